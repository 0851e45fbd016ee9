package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/jackc/pgx/v5"
)

// BlobChunkBytes is one row of blob_chunks (migration 008). Content up to
// it is one blobs row, as before; larger content is written with COPY a
// chunk per row, so storing it costs the process one chunk and pgx's send
// buffer, never a copy of the whole content (a single bytea parameter is
// encoded into pgx's parameter buffer and again into the Bind message).
const BlobChunkBytes = 256 << 10

// ErrBlobMismatch is returned when streamed content is not what its
// declared sha256 and size say: storing it under that hash would hand every
// later message with the real content the wrong file.
var ErrBlobMismatch = errors.New("content does not match its sha256 and size")

// PutBlob stores content once per sha256 and returns the hash. Large
// content goes to blob_chunks in slices of data itself, without copies.
func (db *DB) PutBlob(ctx context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	if len(data) <= BlobChunkBytes {
		if err := db.later(ctx, "put blob", `INSERT INTO blobs (sha256, size, data) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`,
			sum[:], len(data), data); err != nil {
			return nil, err
		}
		return sum[:], nil
	}
	rest := data
	next := func() ([]byte, error) {
		c := rest[:min(len(rest), BlobChunkBytes)]
		rest = rest[len(c):]
		return c, nil
	}
	if err := db.putChunked(ctx, sum[:], int64(len(data)), func() chunks { return next }, false); err != nil {
		return nil, err
	}
	return sum[:], nil
}

// PutBlobStream stores the content open yields, whose sha256 and size the
// caller knows (mailparse hashes a large attachment while it parses). Content
// over BlobChunkBytes whose blob is stored already is not read at all;
// otherwise open is read once, a chunk at a time, and what it yielded is
// checked against sha and size (ErrBlobMismatch).
func (db *DB) PutBlobStream(ctx context.Context, sha []byte, size int64, open func() io.Reader) error {
	if len(sha) != sha256.Size {
		return fmt.Errorf("put blob: a sha256 of %d bytes: %w", len(sha), ErrInvalidInput)
	}
	if size <= BlobChunkBytes {
		data, err := io.ReadAll(io.LimitReader(open(), BlobChunkBytes+1))
		if err != nil {
			return fmt.Errorf("put blob: read: %w", err)
		}
		if sum := sha256.Sum256(data); int64(len(data)) != size || !bytes.Equal(sum[:], sha) {
			return fmt.Errorf("put blob: %w", ErrBlobMismatch)
		}
		_, err = db.PutBlob(ctx, data)
		return err
	}
	return db.putChunked(ctx, sha, size, func() chunks { return readChunks(open()) }, true)
}

// chunks yields the next chunk of content, nil at its end. A chunk is read
// (copied into the COPY buffer) before the next is asked for, so it may be
// a buffer reused from call to call.
type chunks func() ([]byte, error)

func readChunks(r io.Reader) chunks {
	buf := make([]byte, BlobChunkBytes)
	return func() ([]byte, error) {
		n, err := io.ReadFull(r, buf)
		switch {
		case n > 0:
			return buf[:n], nil
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil, nil
		default:
			return nil, err
		}
	}
}

type copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// putChunked writes a blobs row without data and, when it is new, its
// chunks: both in one transaction (the caller's, or one of its own on the
// pool), since a blob row whose chunks are missing would be taken as stored
// by every later write of the same content. check hashes what is written.
func (db *DB) putChunked(ctx context.Context, sha []byte, size int64, open func() chunks, check bool) error {
	return db.atomically(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, `INSERT INTO blobs (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING`, sha, size)
		if err != nil {
			return fmt.Errorf("put blob: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // stored already (or being stored by a transaction this one waited for)
		}
		src := &chunkSource{sha: sha, next: open()}
		if check {
			src.h = sha256.New()
		}
		c, ok := q.(copier)
		if !ok {
			return fmt.Errorf("put blob: %T cannot COPY", q)
		}
		if _, err := c.CopyFrom(ctx, pgx.Identifier{"blob_chunks"}, []string{"sha256", "seq", "data"}, src); err != nil {
			return fmt.Errorf("put blob: chunks: %w", err)
		}
		if src.n != size || (check && !bytes.Equal(src.h.Sum(nil), sha)) {
			return fmt.Errorf("put blob: %w (%d bytes of %d)", ErrBlobMismatch, src.n, size)
		}
		return nil
	})
}

// atomically runs fn in the caller's transaction, or for a Store in a
// transaction of its own.
func (db *DB) atomically(ctx context.Context, fn func(q querier) error) error {
	p, ok := db.q.(poolQuerier)
	if !ok {
		return fn(db.q)
	}
	if p.st.inTx(ctx) {
		return fmt.Errorf("put blob: %w", ErrNestedTx)
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { return fn(tx) })
}

// chunkSource feeds COPY the rows of one blob.
type chunkSource struct {
	sha  []byte
	next chunks
	cur  []byte
	seq  int32
	n    int64
	h    hash.Hash
	err  error
}

func (s *chunkSource) Next() bool {
	c, err := s.next()
	if err != nil {
		s.err = fmt.Errorf("read: %w", err)
		return false
	}
	if len(c) == 0 {
		return false
	}
	if s.cur != nil {
		s.seq++
	}
	s.cur = c
	s.n += int64(len(c))
	if s.h != nil {
		s.h.Write(c)
	}
	return true
}

func (s *chunkSource) Values() ([]any, error) { return []any{s.sha, s.seq, s.cur}, nil }

func (s *chunkSource) Err() error { return s.err }

// Blob reads stored content.
func (db *DB) Blob(ctx context.Context, sha []byte) ([]byte, error) {
	data, size, chunked, err := db.blobRow(ctx, sha)
	if err != nil || !chunked {
		return data, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if err := db.writeChunks(ctx, sha, size, buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteBlob writes stored content to w a chunk at a time, for a reader that
// should not hold a large file whole (an HTTP response).
func (db *DB) WriteBlob(ctx context.Context, sha []byte, w io.Writer) error {
	data, size, chunked, err := db.blobRow(ctx, sha)
	if err != nil {
		return err
	}
	if !chunked {
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("blob: write: %w", err)
		}
		return nil
	}
	return db.writeChunks(ctx, sha, size, w)
}

// blobRow reads a blob's row: its data, or chunked when that is in
// blob_chunks.
func (db *DB) blobRow(ctx context.Context, sha []byte) (data []byte, size int64, chunked bool, err error) {
	err = db.q.QueryRow(ctx, `SELECT data, size, data IS NULL FROM blobs WHERE sha256 = $1`, sha).Scan(&data, &size, &chunked)
	if err != nil {
		return nil, 0, false, notFound(err, "blob")
	}
	return data, size, chunked, nil
}

func (db *DB) writeChunks(ctx context.Context, sha []byte, size int64, w io.Writer) error {
	rows, err := db.q.Query(ctx, `SELECT data FROM blob_chunks WHERE sha256 = $1 ORDER BY seq`, sha)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer rows.Close()
	var n int64
	var c []byte
	for rows.Next() {
		// In binary format the raw value is the chunk as it arrived in
		// pgx's read buffer: written on without a copy of its own.
		if rows.FieldDescriptions()[0].Format == pgx.BinaryFormatCode {
			c = rows.RawValues()[0]
		} else if err := rows.Scan(&c); err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		if _, err := w.Write(c); err != nil {
			return fmt.Errorf("blob: write: %w", err)
		}
		n += int64(len(c))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if n != size {
		return fmt.Errorf("blob: %d bytes of %d in its chunks: %w", n, size, ErrBlobMismatch)
	}
	return nil
}
