package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// Category is a topic with addresses, preset receiver roles and retention.
type Category struct {
	ID        int64
	Key       string
	Name      string
	Retention pgtype.Interval
	AllowFrom []string
	Addresses []string // in the config's order: the first is the one mail is sent from
	RoleIDs   []int64  // preset receivers
	// Secure: mail about its conversations carries no content (config's
	// categories[].secure).
	Secure bool
}

const categoryColumns = `c.id, c.key, c.name, c.retention, c.allow_from, c.secure,
	coalesce((SELECT array_agg(address ORDER BY position, address) FROM category_addresses WHERE category_id = c.id), '{}'),
	coalesce((SELECT array_agg(role_id ORDER BY role_id) FROM category_roles WHERE category_id = c.id), '{}')`

func scanCategory(row interface{ Scan(...any) error }) (*Category, error) {
	var c Category
	err := row.Scan(&c.ID, &c.Key, &c.Name, &c.Retention, &c.AllowFrom, &c.Secure, &c.Addresses, &c.RoleIDs)
	return &c, err
}

// CategoryByKey finds a category.
func (db *DB) CategoryByKey(ctx context.Context, key string) (*Category, error) {
	c, err := scanCategory(db.q.QueryRow(ctx, `SELECT `+categoryColumns+` FROM categories c WHERE c.key = $1 AND c.active`, key))
	if err != nil {
		return nil, notFound(err, "category "+key)
	}
	return c, nil
}

// CategoryByID finds a category, active or not.
func (db *DB) CategoryByID(ctx context.Context, id int64) (*Category, error) {
	c, err := scanCategory(db.q.QueryRow(ctx, `SELECT `+categoryColumns+` FROM categories c WHERE c.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "category")
	}
	return c, nil
}

// CategoryByAddress finds the category an address belongs to; a plus-address
// (payroll+anything@) belongs to the category of its base address.
func (db *DB) CategoryByAddress(ctx context.Context, addr string) (*Category, error) {
	addr = strings.ToLower(addr)
	if local, domain, ok := strings.Cut(addr, "@"); ok {
		if base, _, plus := strings.Cut(local, "+"); plus {
			addr = base + "@" + domain
		}
	}
	c, err := scanCategory(db.q.QueryRow(ctx, `SELECT `+categoryColumns+` FROM categories c
		JOIN category_addresses a ON a.category_id = c.id WHERE a.address = $1 AND c.active`, addr))
	if err != nil {
		return nil, notFound(err, "category for "+addr)
	}
	return c, nil
}

// Categories lists the active categories by name.
func (db *DB) Categories(ctx context.Context) ([]Category, error) {
	rows, err := db.q.Query(ctx, `SELECT `+categoryColumns+` FROM categories c WHERE c.active ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	defer rows.Close()
	var cs []Category
	for rows.Next() {
		c, err := scanCategory(rows)
		if err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		cs = append(cs, *c)
	}
	return cs, rows.Err()
}
