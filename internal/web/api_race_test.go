package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

// TestAPIConcurrentClaimsNeverShareAContact has many agents claim and
// qualify through the HTTP handler at once: no contact is ever leased to two
// of them, and each is served exactly once (the outcome's retry delay keeps
// it out of the queue for the rest of the test).
func TestAPIConcurrentClaimsNeverShareAContact(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		const agents, perAgent, contacts = 8, 3, 90
		e := newAPIEnv(t, d)
		it := e.apiUser("it1", auth.RoleIT)
		logins := make([]string, agents)
		for i := range logins {
			logins[i] = fmt.Sprintf("agent%d", i+1)
			e.apiUser(logins[i], auth.RoleAgent)
		}
		e.apiMission(40, "acme", campaign.RegimeB2B, "", logins...)
		ids := e.loadLeads(40, contacts, it)
		for _, l := range logins {
			e.inService(40, l)
		}

		var (
			mu      sync.Mutex
			holder  = map[string]string{} // contact id -> worker holding it now
			served  = map[string]int{}
			doubles []string
			wg      sync.WaitGroup
		)
		for w := range agents * perAgent {
			login := logins[w%agents]
			// Several workers share an agent: a second claim by the same
			// agent gets the same contact back (renewed), which is one agent
			// holding it, not two. Workers are keyed by agent for that.
			token := e.tokens[login]
			wg.Go(func() {
				for {
					r := apiDo(t, e.srv, http.MethodPost, "/api/v1/missions/40/next", token, nil, nil)
					if r.status == http.StatusNoContent {
						return
					}
					if r.status != http.StatusOK {
						t.Errorf("%s: next: %d %s", login, r.status, r.body)
						return
					}
					var c struct {
						ID      string `json:"id"`
						Renewed bool   `json:"renewed"`
					}
					if err := json.Unmarshal(r.body, &c); err != nil {
						t.Errorf("%s: %v", login, err)
						return
					}
					mu.Lock()
					if h, ok := holder[c.ID]; ok && h != login {
						doubles = append(doubles, c.ID)
					}
					holder[c.ID] = login
					if !c.Renewed {
						served[c.ID]++
					}
					mu.Unlock()
					q := apiDo(t, e.srv, http.MethodPost, "/api/v1/contacts/"+c.ID+"/outcome", token,
						map[string]string{"code": "lead-injoignable"}, nil)
					mu.Lock()
					if holder[c.ID] == login {
						delete(holder, c.ID)
					}
					mu.Unlock()
					// A sibling worker of the same agent may have qualified
					// it first: then this one is told it no longer holds it.
					if q.status != http.StatusOK && q.status != http.StatusConflict {
						t.Errorf("%s: outcome: %d %s", login, q.status, q.body)
						return
					}
				}
			})
		}
		wg.Wait()
		if len(doubles) > 0 {
			t.Fatalf("contacts leased to two agents at once: %v", doubles)
		}
		for _, id := range ids {
			if served[id] != 1 {
				t.Errorf("contact %s served %d times, want once", id, served[id])
			}
		}
	})
}
