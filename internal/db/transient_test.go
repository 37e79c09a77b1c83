package db

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("update contact: ERROR: deadlock detected (SQLSTATE 40P01)"), true},
		{fmt.Errorf("claim: %w", errors.New("ERROR: could not serialize access due to concurrent update (SQLSTATE 40001)")), true},
		{errors.New("ERROR: duplicate key value violates unique constraint (SQLSTATE 23505)"), false},
		{errors.New("database is locked"), false},
	}
	for _, tc := range tests {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
