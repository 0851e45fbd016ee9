package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
)

// DefaultSpillBytes is the Spool threshold NewSpool takes for 0.
const DefaultSpillBytes = 4 << 20

// Spool holds content that can be read only once (a stream whose end is
// its only copy) until its sha256 is known, which the store needs before it
// writes the first chunk (PutBlobStream): in memory up to a threshold, in
// a temporary file beyond it, hashed as it is written. Fill it before the
// transaction (the stream may be network I/O), store it inside by its Open,
// SHA256 and Size, and Close it. Content that can be read twice (the raw
// source a mail attachment is decoded from, a file on disk) needs no
// spool: it is hashed in one pass and read again.
type Spool struct {
	limit int64
	buf   []byte
	f     *os.File
	h     hash.Hash
	n     int64
}

// NewSpool returns an empty spool that spills to a file beyond limit bytes
// (DefaultSpillBytes for 0).
func NewSpool(limit int64) *Spool {
	if limit <= 0 {
		limit = DefaultSpillBytes
	}
	return &Spool{limit: limit, h: sha256.New()}
}

// Write adds to the content.
func (s *Spool) Write(p []byte) (int, error) {
	if s.f == nil && s.n+int64(len(p)) > s.limit {
		// The file is unlinked at once: it goes with its descriptor, so
		// neither a crash nor a forgotten Close leaves it behind.
		f, err := os.CreateTemp("", "postdesk-spool-*")
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return 0, fmt.Errorf("spool: %w", err)
		}
		if _, err := f.Write(s.buf); err != nil {
			f.Close()
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.f, s.buf = f, nil
	}
	if s.f != nil {
		n, err := s.f.Write(p)
		s.h.Write(p[:n])
		s.n += int64(n)
		if err != nil {
			return n, fmt.Errorf("spool: %w", err)
		}
		return n, nil
	}
	s.buf = append(s.buf, p...)
	s.h.Write(p)
	s.n += int64(len(p))
	return len(p), nil
}

// Spilled reports whether the content went to a file.
func (s *Spool) Spilled() bool { return s.f != nil }

// Size is the bytes written.
func (s *Spool) Size() int64 { return s.n }

// SHA256 is the hash of what was written.
func (s *Spool) SHA256() []byte { return s.h.Sum(nil) }

// Open reads the content from its beginning; each call starts again.
func (s *Spool) Open() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.n)
	}
	return bytes.NewReader(s.buf)
}

// Close drops the content and its file.
func (s *Spool) Close() error {
	s.buf = nil
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}
