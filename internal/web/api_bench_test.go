package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
	"plateau/internal/ingest"
)

// BenchmarkAPIClaimQualify measures a claim and its outcome through the
// HTTP handler (token authentication, routing, JSON) on SQLite, agents in
// parallel. go test -run '^$' -bench APIClaimQualify ./internal/web
func BenchmarkAPIClaimQualify(b *testing.B) {
	const agents = 16
	e := newAPIEnv(b, db.OpenTestSQLite(b))
	logins := make([]string, agents)
	for i := range logins {
		logins[i] = fmt.Sprintf("agent%d", i+1)
		e.apiUser(logins[i], auth.RoleAgent)
	}
	e.apiMission(50, "acme", campaign.RegimeB2B, "", logins...)
	n := max(b.N, 100) + agents
	items := make([]map[string]string, n)
	for i := range items {
		items[i] = map[string]string{"hcp_phone_number": fmt.Sprintf("331%08d", 40000000+i), "name": fmt.Sprint(i)}
	}
	if _, err := e.ingest.IngestItems(e.ctx(), 50, items, ingest.IngestOptions{NoOutputs: true}); err != nil {
		b.Fatal(err)
	}
	for _, l := range logins {
		e.inService(50, l)
	}
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		token := e.tokens[logins[int(next.Add(1)-1)%agents]]
		for pb.Next() {
			r := apiDo(b, e.srv, http.MethodPost, "/api/v1/missions/50/next", token, nil, nil)
			if r.status != http.StatusOK {
				b.Errorf("next: %d %s", r.status, r.body)
				return
			}
			var c struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.body, &c); err != nil {
				b.Error(err)
				return
			}
			q := apiDo(b, e.srv, http.MethodPost, "/api/v1/contacts/"+c.ID+"/outcome", token, `{"code": "lead-injoignable"}`, nil)
			if q.status != http.StatusOK {
				b.Errorf("outcome: %d %s", q.status, q.body)
				return
			}
		}
	})
}
