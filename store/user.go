package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a person: staff or customer, decided by roles.
type User struct {
	ID           int64
	Email        string
	Name         string
	Language     string
	CompanyID    *int64
	PasswordHash string
	FromConfig   bool
	CreatedAt    time.Time
}

// Role is a group of users.
type Role struct {
	ID          int64
	Key         string
	Name        string
	Staff       bool
	Permissions []string
	Active      bool
}

// Has reports whether the role grants a permission.
func (r Role) Has(perm string) bool { return slices.Contains(r.Permissions, perm) }

const userColumns = `id, email, name, language, company_id, coalesce(password_hash, ''), from_config, created_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Language, &u.CompanyID, &u.PasswordHash, &u.FromConfig, &u.CreatedAt)
	return &u, err
}

// UserByEmail finds a user by address (case-insensitive).
func (db *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(db.q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = lower($1)`, email))
	if err != nil {
		return nil, notFound(err, "user "+email)
	}
	return u, nil
}

// UserByID finds a user.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(db.q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("user %d", id))
	}
	return u, nil
}

// UsersByID returns the users of ids that exist, by id, in one query.
func (db *DB) UsersByID(ctx context.Context, ids []int64) (map[int64]*User, error) {
	rows, err := db.q.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	us, err := collectUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	out := make(map[int64]*User, len(us))
	for i := range us {
		out[us[i].ID] = &us[i]
	}
	return out, nil
}

// EnsureUser returns the user with this address, creating a customer (no
// roles) when there is none. A name is filled in only where none was known.
func (db *DB) EnsureUser(ctx context.Context, email, name string) (*User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err := scanUser(db.q.QueryRow(ctx, `
		INSERT INTO users (email, name) VALUES ($1, $2)
		ON CONFLICT (email) DO UPDATE SET name = CASE WHEN users.name = '' THEN EXCLUDED.name ELSE users.name END
		RETURNING `+userColumns, email, name))
	if err != nil {
		return nil, fmt.Errorf("ensure user %s: %w", email, err)
	}
	return u, nil
}

// SetPassword stores a password hash (the caller hashes).
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	tag, err := db.q.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set password: user %d: %w", userID, ErrNotFound)
	}
	return nil
}

const roleColumns = `r.id, r.key, r.name, r.staff, r.permissions, r.active`

func scanRoles(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}) ([]Role, error) {
	defer rows.Close()
	var rs []Role
	for rows.Next() {
		var r Role
		if err := rows.Scan(&r.ID, &r.Key, &r.Name, &r.Staff, &r.Permissions, &r.Active); err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// UserRoles lists the roles a user is a member of now.
func (db *DB) UserRoles(ctx context.Context, userID int64) ([]Role, error) {
	rows, err := db.q.Query(ctx, `SELECT `+roleColumns+` FROM roles r JOIN role_members m ON m.role_id = r.id
		WHERE m.user_id = $1 ORDER BY r.key`, userID)
	if err != nil {
		return nil, fmt.Errorf("user roles: %w", err)
	}
	rs, err := scanRoles(rows)
	if err != nil {
		return nil, fmt.Errorf("user roles: %w", err)
	}
	return rs, nil
}

// RolesByKeys returns the named roles, in the order asked, or ErrNotFound
// naming the first unknown key.
func (db *DB) RolesByKeys(ctx context.Context, keys []string) ([]Role, error) {
	rows, err := db.q.Query(ctx, `SELECT `+roleColumns+` FROM roles r WHERE r.key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	rs, err := scanRoles(rows)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	out := make([]Role, 0, len(keys))
	for _, k := range keys {
		i := slices.IndexFunc(rs, func(r Role) bool { return r.Key == k })
		if i < 0 {
			return nil, fmt.Errorf("role %q: %w", k, ErrNotFound)
		}
		out = append(out, rs[i])
	}
	return out, nil
}

// RoleMembers lists the users of the given roles, each once.
func (db *DB) RoleMembers(ctx context.Context, roleIDs []int64) ([]User, error) {
	rows, err := db.q.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id IN (
		SELECT user_id FROM role_members WHERE role_id = ANY($1)) ORDER BY email`, roleIDs)
	if err != nil {
		return nil, fmt.Errorf("role members: %w", err)
	}
	us, err := collectUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("role members: %w", err)
	}
	return us, nil
}

func collectUsers(rows pgx.Rows) ([]User, error) {
	defer rows.Close()
	var us []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		us = append(us, *u)
	}
	return us, rows.Err()
}

// Company is an organisation a conversation may be about.
type Company struct {
	ID   int64
	Name string
}

// EnsureCompany returns the company of that name, creating it when missing.
func (db *DB) EnsureCompany(ctx context.Context, name string) (*Company, error) {
	var c Company
	err := db.q.QueryRow(ctx, `INSERT INTO companies (name) VALUES ($1)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name`, name).Scan(&c.ID, &c.Name)
	if err != nil {
		return nil, fmt.Errorf("ensure company %q: %w", name, err)
	}
	return &c, nil
}

// CompanyByID finds a company.
func (db *DB) CompanyByID(ctx context.Context, id int64) (*Company, error) {
	var c Company
	if err := db.q.QueryRow(ctx, `SELECT id, name FROM companies WHERE id = $1`, id).Scan(&c.ID, &c.Name); err != nil {
		return nil, notFound(err, "company")
	}
	return &c, nil
}

// Person is the employee a conversation concerns.
type Person struct {
	ID        int64
	CompanyID *int64
	Name      string
}

// EnsurePerson returns the person of that name in a company (or none).
func (db *DB) EnsurePerson(ctx context.Context, companyID *int64, name string) (*Person, error) {
	var p Person
	err := db.q.QueryRow(ctx, `INSERT INTO persons (company_id, name) VALUES ($1, $2)
		ON CONFLICT (coalesce(company_id, 0), name) DO UPDATE SET name = EXCLUDED.name
		RETURNING id, company_id, name`, companyID, name).Scan(&p.ID, &p.CompanyID, &p.Name)
	if err != nil {
		return nil, fmt.Errorf("ensure person %q: %w", name, err)
	}
	return &p, nil
}

// PersonByID finds a person.
func (db *DB) PersonByID(ctx context.Context, id int64) (*Person, error) {
	var p Person
	if err := db.q.QueryRow(ctx, `SELECT id, company_id, name FROM persons WHERE id = $1`, id).Scan(&p.ID, &p.CompanyID, &p.Name); err != nil {
		return nil, notFound(err, "person")
	}
	return &p, nil
}

// RolesByIDs returns roles by id, ordered by key.
func (db *DB) RolesByIDs(ctx context.Context, ids []int64) ([]Role, error) {
	rows, err := db.q.Query(ctx, `SELECT `+roleColumns+` FROM roles r WHERE r.id = ANY($1) ORDER BY r.key`, ids)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	rs, err := scanRoles(rows)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	return rs, nil
}
