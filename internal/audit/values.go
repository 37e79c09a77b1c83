package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"plateau/internal/vault"
)

// sealedKey marks a sealed value in the stored JSON: {"$sealed": "base64"}.
const sealedKey = "$sealed"

// sealedShown is how List shows a sealed value.
const sealedShown = "[sealed]"

// auditTable is the table name bound into every sealed value's associated
// data, with the column ("before" or "after") and the row id.
const auditTable = "audit_events"

// encodeValues returns the JSON stored for values ("" for nil), with each
// key listed in personal replaced by {"$sealed": base64(Seal(JSON(value)))}.
// The ciphertext is bound to this row and column, so it cannot be moved to
// another row and still open.
func (l *Log) encodeValues(ctx context.Context, values map[string]any, personal []string, column string, id int64) (string, error) {
	if values == nil {
		return "", nil
	}
	stored := make(map[string]any, len(values))
	for k, val := range values {
		if !slices.Contains(personal, k) {
			stored[k] = val
			continue
		}
		if l.v == nil {
			return "", fmt.Errorf("%s value %q is personal but the log has no vault", column, k)
		}
		plain, err := json.Marshal(val)
		if err != nil {
			return "", fmt.Errorf("encode %s value %q: %w", column, k, err)
		}
		sealed, err := l.v.Seal(ctx, vault.ScopeAudit, plain,
			vault.AD{Table: auditTable, Column: column, Row: strconv.FormatInt(id, 10)})
		if err != nil {
			return "", fmt.Errorf("seal %s value %q: %w", column, k, err)
		}
		stored[k] = map[string]string{sealedKey: base64.StdEncoding.EncodeToString(sealed)}
	}
	b, err := json.Marshal(stored)
	if err != nil {
		return "", fmt.Errorf("encode %s values: %w", column, err)
	}
	return string(b), nil
}

// shown returns the stored JSON with every sealed value replaced by
// "[sealed]", for the viewer. Text that does not parse (it should not
// happen; Verify would flag an edit) is shown as stored: it never holds a
// clear personal value, since those are sealed before being written.
func shown(stored string) string {
	if stored == "" {
		return ""
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stored), &values); err != nil {
		return stored
	}
	marker, _ := json.Marshal(sealedShown)
	for k, raw := range values {
		if isSealed(raw) {
			values[k] = marker
		}
	}
	b, err := json.Marshal(values)
	if err != nil {
		return stored
	}
	return string(b)
}

func isSealed(raw json.RawMessage) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || len(obj) != 1 {
		return false
	}
	_, ok := obj[sealedKey]
	return ok
}
