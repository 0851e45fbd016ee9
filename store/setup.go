package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"postdesk/config"
)

// ApplyConfig makes the database's roles, categories, users and memberships
// what the file says, in one transaction, and can run any number of times.
// Role memberships are entirely the file's: a user dropped from a role loses
// it, and a user dropped from a role or from the file loses every web
// session and API token at once (endCredentials). Nothing here touches a
// conversation: they stay with their roles, whose new members see them. Roles and categories missing from the file are made
// inactive rather than deleted, so their conversations keep their history.
func (s *Store) ApplyConfig(ctx context.Context, c *config.Config) error {
	return s.InTx(ctx, func(tx *Tx) error {
		roleIDs := map[string]int64{}
		keys := make([]string, 0, len(c.Roles))
		for _, r := range c.Roles {
			var id int64
			err := tx.q.QueryRow(ctx, `INSERT INTO roles (key, name, staff, permissions, active) VALUES ($1, $2, $3, $4, true)
				ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, staff = EXCLUDED.staff,
					permissions = EXCLUDED.permissions, active = true
				RETURNING id`, r.Key, r.Name, r.Staff, nonNil(r.May)).Scan(&id)
			if err != nil {
				return fmt.Errorf("apply role %s: %w", r.Key, err)
			}
			roleIDs[r.Key] = id
			keys = append(keys, r.Key)
		}
		if _, err := tx.q.Exec(ctx, `UPDATE roles SET active = false WHERE NOT key = ANY($1)`, keys); err != nil {
			return fmt.Errorf("apply roles: %w", err)
		}

		catKeys := make([]string, 0, len(c.Categories))
		for _, cat := range c.Categories {
			var id int64
			err := tx.q.QueryRow(ctx, `INSERT INTO categories (key, name, retention, allow_from, secure, active) VALUES ($1, $2, $3, $4, $5, true)
				ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, retention = EXCLUDED.retention,
					allow_from = EXCLUDED.allow_from, secure = EXCLUDED.secure, active = true
				RETURNING id`, cat.Key, cat.Name, Interval(cat.Retention), cat.AllowFrom, cat.Secure).Scan(&id)
			if err != nil {
				return fmt.Errorf("apply category %s: %w", cat.Key, err)
			}
			catKeys = append(catKeys, cat.Key)
			if _, err := tx.q.Exec(ctx, `DELETE FROM category_addresses WHERE category_id = $1 AND NOT address = ANY($2)`, id, cat.Addresses); err != nil {
				return fmt.Errorf("apply category %s: %w", cat.Key, err)
			}
			for i, a := range cat.Addresses {
				// An address moved from another category moves with it.
				if _, err := tx.q.Exec(ctx, `INSERT INTO category_addresses (address, category_id, position) VALUES ($1, $2, $3)
					ON CONFLICT (address) DO UPDATE SET category_id = EXCLUDED.category_id, position = EXCLUDED.position`, a, id, i); err != nil {
					return fmt.Errorf("apply category %s address %s: %w", cat.Key, a, err)
				}
			}
			ids := make([]int64, 0, len(cat.Roles))
			for _, r := range cat.Roles {
				ids = append(ids, roleIDs[r])
			}
			if _, err := tx.q.Exec(ctx, `DELETE FROM category_roles WHERE category_id = $1 AND NOT role_id = ANY($2)`, id, ids); err != nil {
				return fmt.Errorf("apply category %s roles: %w", cat.Key, err)
			}
			if _, err := tx.q.Exec(ctx, `INSERT INTO category_roles (category_id, role_id) SELECT $1, unnest($2::bigint[])
				ON CONFLICT DO NOTHING`, id, ids); err != nil {
				return fmt.Errorf("apply category %s roles: %w", cat.Key, err)
			}
		}
		if _, err := tx.q.Exec(ctx, `UPDATE categories SET active = false WHERE NOT key = ANY($1)`, catKeys); err != nil {
			return fmt.Errorf("apply categories: %w", err)
		}

		changed, err := tx.applyUsers(ctx, c, roleIDs)
		if err != nil {
			return err
		}
		ended, err := tx.endCredentials(ctx, changed)
		if err != nil {
			return err
		}
		return tx.Audit(ctx, nil, "config", "config_applied", nil, map[string]any{
			"roles": len(c.Roles), "categories": len(c.Categories), "users": len(c.Users), "credentials_ended": ended})
	})
}

// applyUsers makes the users and memberships the file's and returns the
// users who left the file or lost a role.
func (tx *Tx) applyUsers(ctx context.Context, c *config.Config, roleIDs map[string]int64) ([]int64, error) {
	var memberRoles, memberUsers []int64
	emails := make([]string, 0, len(c.Users))
	for _, u := range c.Users {
		var companyID *int64
		if u.Company != "" {
			co, err := tx.EnsureCompany(ctx, u.Company)
			if err != nil {
				return nil, err
			}
			companyID = &co.ID
		}
		var id int64
		err := tx.q.QueryRow(ctx, `INSERT INTO users (email, name, language, company_id, from_config) VALUES ($1, $2, $3, $4, true)
			ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, language = EXCLUDED.language,
				company_id = EXCLUDED.company_id, from_config = true
			RETURNING id`, u.Email, u.Name, u.Language, companyID).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("apply user %s: %w", u.Email, err)
		}
		emails = append(emails, u.Email)
		for _, r := range u.Roles {
			memberRoles = append(memberRoles, roleIDs[r])
			memberUsers = append(memberUsers, id)
		}
	}
	// Users gone from the file keep their row (conversations name them) but
	// no longer count as configured, and lose the password the file's
	// organisation gave them: a person who left signs in no more.
	rows, err := tx.q.Query(ctx, `UPDATE users SET from_config = false, password_hash = NULL
		WHERE from_config AND NOT email = ANY($1) RETURNING id`, emails)
	if err != nil {
		return nil, fmt.Errorf("apply users: %w", err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("apply users: %w", err)
	}
	rows, err = tx.q.Query(ctx, `DELETE FROM role_members m WHERE NOT EXISTS (
			SELECT 1 FROM unnest($1::bigint[], $2::bigint[]) AS want(role_id, user_id)
			WHERE want.role_id = m.role_id AND want.user_id = m.user_id) RETURNING user_id`, memberRoles, memberUsers)
	if err != nil {
		return nil, fmt.Errorf("apply memberships: %w", err)
	}
	lost, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("apply memberships: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `INSERT INTO role_members (role_id, user_id)
			SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING`, memberRoles, memberUsers); err != nil {
		return nil, fmt.Errorf("apply memberships: %w", err)
	}
	return append(gone, lost...), nil
}

// endCredentials deletes every web session and API token of the given users:
// those the file no longer names, and those who lost a role. A browser
// signed in before the change, or a script holding a token, has to sign in
// (or be given a token) again, with what the file grants now. It returns the
// users whose credentials were ended, sorted.
func (tx *Tx) endCredentials(ctx context.Context, userIDs []int64) ([]int64, error) {
	slices.Sort(userIDs)
	userIDs = slices.Compact(userIDs)
	if len(userIDs) == 0 {
		return []int64{}, nil
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM sessions WHERE user_id = ANY($1)`, userIDs); err != nil {
		return nil, fmt.Errorf("end sessions: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM api_tokens WHERE user_id = ANY($1)`, userIDs); err != nil {
		return nil, fmt.Errorf("end api tokens: %w", err)
	}
	return userIDs, nil
}

// Interval converts a retention to PostgreSQL's interval, keeping calendar
// months and days apart from exact time.
func Interval(r config.Retention) pgtype.Interval {
	return pgtype.Interval{Months: int32(r.Months), Days: int32(r.Days), Microseconds: r.Exact.Microseconds(), Valid: true}
}

// RetentionOf converts back.
func RetentionOf(iv pgtype.Interval) config.Retention {
	return config.Retention{Months: int(iv.Months), Days: int(iv.Days), Exact: time.Duration(iv.Microseconds) * time.Microsecond, Set: true}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
