// Package notify sends Plateau's e-mail alerts to the call center's IT staff
// and runs scheduled jobs.
//
// Mail never blocks its caller: alerts are rendered into a Message and
// written to an outbox table (Enqueue, or EnqueueTx inside the caller's
// transaction); the Outbox worker (Run) sends them over SMTP with the Mailer
// and retries with backoff while the server is unreachable. Messages carry
// counts and links only, never personal data.
//
// The Scheduler runs jobs on cron schedules in a time zone (Europe/Paris by
// default). When several nodes share a database, a lease row per job in
// job_locks makes exactly one node run each tick.
//
// The two alerts of the lead ingestion are ready-made: InboxWaiting ("N files
// are waiting in the inbox", typically on the schedule
// "0 9,10,11,14,15,16 * * 1-4") and BatchSummary (after each batch). Alerts
// ties them to the configured recipients.
//
// Typical wiring at start:
//
//	mailer, err := notify.NewMailer(cfg.Notify.SMTP)
//	outbox := notify.NewOutbox(d, mailer, notify.OutboxOptions{GiveUpAfter: cfg.Notify.Outbox.GiveUpAfter})
//	go outbox.Run(ctx)
//	alerts, err := notify.NewAlerts(cfg.Notify, outbox)
//	sched, err := notify.NewScheduler(notify.SchedulerOptions{DB: d})
//	err = alerts.ScheduleInboxCheck(sched, checkInboxes)
//	go sched.Run(ctx)
package notify
