package store

import (
	"context"
	"fmt"
)

// The pick-lists of the conversation page: the organisation's companies,
// people and customer-side users to choose from, so that a name is picked,
// not typed (a typo would make a new company or person). Each takes the
// company to narrow to: a manager's page asks for their own company only;
// nil lists the whole organisation, for staff. The rules still check
// whatever is posted back; the lists only offer.

// PickCompany is a company of a pick-list.
type PickCompany struct {
	ID   int64
	Name string
}

// PickPerson is a person (the employee a conversation is about) of a
// pick-list, with the name of their company ("" for none).
type PickPerson struct {
	ID      int64
	Name    string
	Company string
}

// PickUser is a customer-side user (one with a company) of a pick-list.
type PickUser struct {
	ID      int64
	Email   string
	Name    string
	Company string
}

// Companies lists the companies by name; with only set, just that one.
func (db *DB) Companies(ctx context.Context, only *int64) ([]PickCompany, error) {
	rows, err := db.q.Query(ctx, `SELECT id, name FROM companies
		WHERE $1::bigint IS NULL OR id = $1 ORDER BY lower(name), id`, only)
	if err != nil {
		return nil, fmt.Errorf("companies: %w", err)
	}
	defer rows.Close()
	var out []PickCompany
	for rows.Next() {
		var c PickCompany
		if err := rows.Scan(&c.ID, &c.Name); err != nil {
			return nil, fmt.Errorf("companies: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("companies: %w", err)
	}
	return out, nil
}

// CompanyPeople lists the persons by name; with company set, only that
// company's.
func (db *DB) CompanyPeople(ctx context.Context, company *int64) ([]PickPerson, error) {
	rows, err := db.q.Query(ctx, `SELECT p.id, p.name, coalesce(co.name, '') FROM persons p
		LEFT JOIN companies co ON co.id = p.company_id
		WHERE $1::bigint IS NULL OR p.company_id = $1 ORDER BY lower(p.name), p.id`, company)
	if err != nil {
		return nil, fmt.Errorf("company people: %w", err)
	}
	defer rows.Close()
	var out []PickPerson
	for rows.Next() {
		var p PickPerson
		if err := rows.Scan(&p.ID, &p.Name, &p.Company); err != nil {
			return nil, fmt.Errorf("company people: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("company people: %w", err)
	}
	return out, nil
}

// CompanyUsers lists the users who belong to a company, by company and
// address; with company set, only that company's. They are who may be a
// conversation's customer assignee.
func (db *DB) CompanyUsers(ctx context.Context, company *int64) ([]PickUser, error) {
	rows, err := db.q.Query(ctx, `SELECT u.id, u.email, u.name, co.name FROM users u
		JOIN companies co ON co.id = u.company_id
		WHERE $1::bigint IS NULL OR u.company_id = $1 ORDER BY lower(co.name), u.email`, company)
	if err != nil {
		return nil, fmt.Errorf("company users: %w", err)
	}
	defer rows.Close()
	var out []PickUser
	for rows.Next() {
		var u PickUser
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Company); err != nil {
			return nil, fmt.Errorf("company users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("company users: %w", err)
	}
	return out, nil
}
