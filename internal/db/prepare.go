package db

import (
	"context"
	"database/sql"
)

// PrepareContext prepares a statement for repeated use inside the
// transaction; it is closed with the transaction. Bulk loads run the same
// multi-row INSERT many times: SQLite then parses it once instead of at
// every call.
func (t *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, t.d.Rebind(query))
}
