package ingest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"plateau/internal/audit"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

// StoredProfile is one version of a mission's profile.
type StoredProfile struct {
	Mission   int       `json:"mission"`
	Version   int       `json:"version"`
	YAML      string    `json:"yaml"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// Profile is YAML loaded.
	Profile *Profile `json:"-"`
}

// CreateMission creates a mission (package campaign) with its first
// profile. The profile is validated first, so a mission is never created
// with a profile that does not load; if storing it fails afterwards (the
// database went away), the mission exists without a profile and
// StoreProfile can be run again.
func (s *Service) CreateMission(ctx context.Context, n campaign.NewMission, yaml []byte) (campaign.Mission, StoredProfile, error) {
	if _, err := checkProfile(yaml, n.Number); err != nil {
		return campaign.Mission{}, StoredProfile{}, err
	}
	m, err := s.c.CreateMission(ctx, n)
	if err != nil {
		return campaign.Mission{}, StoredProfile{}, err
	}
	sp, err := s.StoreProfile(ctx, m.Number, yaml)
	if err != nil {
		return m, StoredProfile{}, fmt.Errorf("mission %d created, but its profile was not stored: %w", m.Number, err)
	}
	return m, sp, nil
}

// checkProfile loads a profile and checks that it is meant for the
// mission: a profile that names another mission number is most likely
// the wrong file.
func checkProfile(yaml []byte, mission int) (*Profile, error) {
	p, err := LoadProfile(yaml)
	if err != nil {
		return nil, err
	}
	if p.Mission.Number != 0 && p.Mission.Number != mission {
		return nil, &ProfileError{Problems: []Problem{{Path: "mission.number",
			Message: fmt.Sprintf("the profile is for mission %d, not mission %d", p.Mission.Number, mission)}}}
	}
	return p, nil
}

// StoreProfile validates a profile and stores it as the mission's next
// version, which becomes the active one. Batches already registered keep
// the version they started with.
func (s *Service) StoreProfile(ctx context.Context, mission int, yaml []byte) (StoredProfile, error) {
	p, err := checkProfile(yaml, mission)
	if err != nil {
		return StoredProfile{}, err
	}
	if _, err := s.c.Mission(ctx, mission); err != nil {
		return StoredProfile{}, err
	}
	now := s.now()
	sp := StoredProfile{Mission: mission, YAML: string(yaml), CreatedAt: db.FromMillis(db.Millis(now)),
		CreatedBy: audit.ActorFrom(ctx).Login, Profile: p}
	sum := sha256.Sum256(yaml)
	store := func() error {
		return s.d.Tx(ctx, func(tx *db.Tx) error {
			err := tx.QueryRowContext(ctx, sqlInsertProfile, mission, mission, sp.YAML, db.Millis(now), sp.CreatedBy).Scan(&sp.Version)
			if err != nil {
				return err
			}
			return s.record(ctx, tx, audit.Event{
				Action: "profile.store", ObjectType: "mission", ObjectID: strconv.Itoa(mission),
				After: map[string]any{"version": sp.Version, "sha256": hex.EncodeToString(sum[:]), "bytes": len(yaml)},
			})
		})
	}
	err = store()
	if db.IsUniqueViolation(err) {
		// Another node stored a version at the same moment: take the next.
		err = store()
	}
	if err != nil {
		return StoredProfile{}, fmt.Errorf("store profile of mission %d: %w", mission, err)
	}
	return sp, nil
}

// ActiveProfile returns the mission's latest profile, loaded.
func (s *Service) ActiveProfile(ctx context.Context, mission int) (StoredProfile, error) {
	return s.profile(ctx, mission, s.d.QueryRowContext(ctx, sqlActiveProfile, mission))
}

// ProfileVersion returns one version of the mission's profile, loaded.
func (s *Service) ProfileVersion(ctx context.Context, mission, version int) (StoredProfile, error) {
	return s.profile(ctx, mission, s.d.QueryRowContext(ctx, sqlProfileVersion, mission, version))
}

func (s *Service) profile(_ context.Context, mission int, row *sql.Row) (StoredProfile, error) {
	sp := StoredProfile{Mission: mission}
	var at int64
	err := row.Scan(&sp.Version, &sp.YAML, &at, &sp.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredProfile{}, fmt.Errorf("mission %d: %w", mission, ErrNoProfile)
	}
	if err != nil {
		return StoredProfile{}, fmt.Errorf("profile of mission %d: %w", mission, err)
	}
	sp.CreatedAt = db.FromMillis(at)
	if sp.Profile, err = LoadProfile([]byte(sp.YAML)); err != nil {
		// Stored profiles were validated; a newer Plateau may refuse an old
		// one, and the message says which version.
		return StoredProfile{}, fmt.Errorf("profile version %d of mission %d: %w", sp.Version, mission, err)
	}
	return sp, nil
}
