package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// maxCheckpointLine bounds one line of the checkpoint file when verifying.
const maxCheckpointLine = 1 << 20

// checked is a checkpoint whose signature verified.
type checked struct {
	id   int64
	hash []byte
	at   string
}

// Verify checks the whole chain and every checkpoint.
//
// It reads the checkpoints, then the head, then streams the rows in id order
// in one query (one consistent snapshot on both engines), so events appended
// meanwhile are not mistaken for tampering: every row the head or a
// checkpoint covered was committed before the walk began. Problem names the
// lowest row found wrong; the error is for I/O failures only.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	var rep Report
	cps, n, problem, err := l.readCheckpoints()
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	rep.Checkpoints = n
	headID, headHash, found, err := readHead(ctx, l.d)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	if !found {
		rep.Problem = earliest(problem, &Problem{Row: 0, Reason: "the chain head row (audit_head) is missing"})
		return rep, nil
	}
	if headID == 0 && !bytes.Equal(headHash, genesis()) {
		problem = earliest(problem, &Problem{Row: 1, Reason: "the chain head is empty but its hash is not the genesis value"})
	}
	last, chainProblem, err := l.walk(ctx, &rep, cps, headID, headHash)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	if chainProblem != nil {
		rep.Problem = earliest(problem, chainProblem)
		return rep, nil
	}
	rep.Problem = earliest(problem, l.checkTail(ctx, last, headID, cps))
	return rep, nil
}

// tail is the last row the walk saw (id 0 for an empty table).
type tail struct {
	id   int64
	hash []byte
}

// walk streams the rows in id order and returns the first row that is
// missing, unlinked, altered, or disagrees with the head or a checkpoint.
func (l *Log) walk(ctx context.Context, rep *Report, cps []checked, headID int64, headHash []byte) (tail, *Problem, error) {
	// Cancelling before Close stops the query at the first problem instead
	// of draining a large table.
	qctx, cancel := context.WithCancel(ctx)
	rows, err := l.d.QueryContext(qctx, qWalk)
	if err != nil {
		cancel()
		return tail{}, nil, fmt.Errorf("read rows: %w", err)
	}
	defer rows.Close()
	defer cancel()

	prev := tail{id: 0, hash: genesis()}
	next := 0 // the first checkpoint not yet compared
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.at, &r.actor, &r.source, &r.agent, &r.action, &r.objectType, &r.objectID,
			&r.before, &r.after, &r.prevHash, &r.hash); err != nil {
			return tail{}, nil, fmt.Errorf("read row after %d: %w", prev.id, err)
		}
		rep.Rows++
		if p := checkRow(&r, prev); p != nil {
			return tail{}, p, nil
		}
		if r.id == headID && !bytes.Equal(r.hash, headHash) {
			return tail{}, &Problem{Row: r.id, Reason: fmt.Sprintf("the chain head's hash differs from row %d's", r.id)}, nil
		}
		for ; next < len(cps) && cps[next].id <= r.id; next++ {
			if !bytes.Equal(cps[next].hash, r.hash) {
				return tail{}, &Problem{Row: r.id, Reason: fmt.Sprintf(
					"row %d's hash differs from the one checkpointed at %s (the chain was rewritten)", r.id, cps[next].at)}, nil
			}
		}
		prev = tail{id: r.id, hash: r.hash}
	}
	if err := rows.Err(); err != nil {
		return tail{}, nil, fmt.Errorf("read rows after %d: %w", prev.id, err)
	}
	return prev, nil, nil
}

// checkRow checks one row against the row before it.
func checkRow(r *row, prev tail) *Problem {
	want := prev.id + 1
	switch {
	case r.id > want:
		return &Problem{Row: want, Reason: fmt.Sprintf("row %d is missing (the row after %d is %d)", want, prev.id, r.id)}
	case r.id < want:
		return &Problem{Row: r.id, Reason: fmt.Sprintf("unexpected row id %d (ids start at 1)", r.id)}
	}
	if !bytes.Equal(r.prevHash, prev.hash) {
		return &Problem{Row: r.id, Reason: fmt.Sprintf("row %d does not link to row %d (its prev_hash differs from that row's hash)", r.id, prev.id)}
	}
	if !bytes.Equal(r.computeHash(), r.hash) {
		return &Problem{Row: r.id, Reason: fmt.Sprintf("row %d was altered (its contents do not match its hash)", r.id)}
	}
	return nil
}

// checkTail compares the end of an intact chain with the head and the
// checkpoints: anything they cover beyond the last row was cut off.
func (l *Log) checkTail(ctx context.Context, last tail, headID int64, cps []checked) *Problem {
	if headID > last.id {
		return &Problem{Row: last.id + 1, Reason: fmt.Sprintf(
			"tail truncated: the chain head is row %d but the table ends at %d", headID, last.id)}
	}
	if last.id > headID {
		// Rows past the head read before the walk are either appended
		// meanwhile, and then the head has moved at least as far, or
		// inserted behind the log's back.
		id2, hash2, found, err := readHead(ctx, l.d)
		switch {
		case err != nil || !found:
			// The walk itself was sound; report what was read, not a guess.
		case last.id > id2:
			return &Problem{Row: id2 + 1, Reason: fmt.Sprintf(
				"row %d is beyond the chain head (row %d): it was not written by the audit log", id2+1, id2)}
		case last.id == id2 && !bytes.Equal(last.hash, hash2):
			return &Problem{Row: last.id, Reason: fmt.Sprintf("the chain head's hash differs from row %d's", last.id)}
		}
	}
	if i := slices.IndexFunc(cps, func(c checked) bool { return c.id > last.id }); i >= 0 {
		return &Problem{Row: last.id + 1, Reason: fmt.Sprintf(
			"tail truncated: checkpoint covers row %d but the table ends at %d", cps[i].id, last.id)}
	}
	return nil
}

// readCheckpoints reads and checks every line of the checkpoint file. It
// returns the checkpoints whose signature verifies with the signing key's
// public half, sorted by row id, the number of lines checked, and the first
// bad line as a problem. A missing file holds no checkpoints.
func (l *Log) readCheckpoints() (cps []checked, n int, problem *Problem, err error) {
	f, err := os.Open(l.opt.CheckpointFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil, nil
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("open checkpoint file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxCheckpointLine)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		n++
		c, p := l.checkCheckpoint(line, lineNo)
		if p != nil {
			problem = earliest(problem, p)
			continue
		}
		cps = append(cps, c)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return cps, n, earliest(problem, &Problem{Reason: "the checkpoint file holds an oversized line"}), nil
		}
		return nil, 0, nil, fmt.Errorf("read checkpoint file: %w", err)
	}
	slices.SortStableFunc(cps, func(a, b checked) int { return cmp.Compare(a.id, b.id) })
	return cps, n, problem, nil
}

// checkCheckpoint parses one line and checks its signature.
func (l *Log) checkCheckpoint(line []byte, lineNo int) (checked, *Problem) {
	var cp checkpoint
	if err := json.Unmarshal(line, &cp); err != nil {
		return checked{}, &Problem{Reason: fmt.Sprintf("checkpoint file line %d is not a checkpoint", lineNo)}
	}
	hash, err := hex.DecodeString(cp.Hash)
	if err != nil || len(hash) != sha256.Size || cp.ID < 1 {
		return checked{}, &Problem{Row: max(cp.ID, 0), Reason: fmt.Sprintf("checkpoint file line %d is malformed", lineNo)}
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Sig)
	if err != nil || !ed25519.Verify(l.pub, checkpointMessage(cp.ID, hash, cp.At), sig) {
		reason := fmt.Sprintf("checkpoint file line %d (row %d): the signature does not verify with the signing key", lineNo, cp.ID)
		if cp.Key != base64.StdEncoding.EncodeToString(l.pub) {
			reason += " (the line names another key)"
		}
		return checked{}, &Problem{Row: cp.ID, Reason: reason}
	}
	return checked{id: cp.ID, hash: hash, at: cp.At}, nil
}

// earliest returns the problem about the lower row; on a tie the one found
// first.
func earliest(a, b *Problem) *Problem {
	if a == nil || (b != nil && b.Row < a.Row) {
		return b
	}
	return a
}
