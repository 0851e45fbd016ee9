package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"postdesk/store"
	"postdesk/store/storetest"
)

// randomBytes is n bytes that no chunk boundary lines up with by chance.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b) //nolint:errcheck // ChaCha8.Read never fails
	return b
}

func chunkRows(t *testing.T, st *store.Store, sha []byte) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM blob_chunks WHERE sha256 = $1`, sha).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Content of every size around the chunk boundary comes back byte-exact
// under its sha256, from the pool and from a transaction; a large one is
// kept in chunks and stored once however often it is put.
func TestBlobRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	for i, size := range []int{0, 1, store.BlobChunkBytes, store.BlobChunkBytes + 1, 3*store.BlobChunkBytes - 7, 5 << 20} {
		data := randomBytes(size, byte(i))
		want := sha256.Sum256(data)
		sha, err := st.PutBlob(ctx, data)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if !bytes.Equal(sha, want[:]) {
			t.Fatalf("%d bytes: sha256 %x, want %x", size, sha, want)
		}
		err = st.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.PutBlob(ctx, data); err != nil { // a second put changes nothing
				return err
			}
			got, err := tx.Blob(ctx, sha)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%d bytes: read back %d bytes that differ", size, len(got))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		wantRows := 0
		if size > store.BlobChunkBytes {
			wantRows = (size + store.BlobChunkBytes - 1) / store.BlobChunkBytes
		}
		if n := chunkRows(t, st, sha); n != wantRows {
			t.Errorf("%d bytes: %d chunk rows, want %d", size, n, wantRows)
		}
		var w bytes.Buffer
		if err := st.WriteBlob(ctx, sha, &w); err != nil || !bytes.Equal(w.Bytes(), data) {
			t.Errorf("%d bytes: WriteBlob: %v, %d bytes", size, err, w.Len())
		}
	}
}

// A stream is stored under the sha256 it was declared with, read only when
// the blob is new, and refused (nothing stored) when it is not that content.
func TestBlobStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	data := randomBytes(2*store.BlobChunkBytes+100, 7)
	sum := sha256.Sum256(data)
	opened := 0
	open := func() io.Reader { opened++; return bytes.NewReader(data) }
	if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.PutBlobStream(ctx, sum[:], int64(len(data)), open) }); err != nil {
		t.Fatal(err)
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.PutBlobStream(ctx, sum[:], int64(len(data)), open) }); err != nil {
		t.Fatal(err)
	}
	if opened != 1 {
		t.Errorf("the stream was opened %d times, want once: the second put finds the blob stored", opened)
	}
	if got, err := st.Blob(ctx, sum[:]); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Blob: %v, %d bytes", err, len(got))
	}

	other := randomBytes(len(data), 8)
	liar := sha256.Sum256([]byte("not the content"))
	for _, c := range []struct {
		name string
		sha  []byte
		size int64
	}{{"wrong sha256", liar[:], int64(len(other))}, {"wrong size", liar[:], int64(len(other)) + 1}} {
		err := st.InTx(ctx, func(tx *store.Tx) error {
			return tx.PutBlobStream(ctx, c.sha, c.size, func() io.Reader { return bytes.NewReader(other) })
		})
		if !errors.Is(err, store.ErrBlobMismatch) {
			t.Errorf("%s: %v, want ErrBlobMismatch", c.name, err)
		}
		if _, err := st.Blob(ctx, liar[:]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the blob was kept: %v", c.name, err)
		}
	}
	small := []byte("small")
	if err := st.PutBlobStream(ctx, liar[:], int64(len(small)), func() io.Reader { return bytes.NewReader(small) }); !errors.Is(err, store.ErrBlobMismatch) {
		t.Errorf("small content under a wrong sha256: %v, want ErrBlobMismatch", err)
	}
}

// A stream that can be read only once goes through a Spool: over its
// threshold the content is in a file, and it is stored byte-exact under the
// hash the spool computed.
func TestSpoolSpillsToFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	for _, c := range []struct {
		size, limit int
		spilled     bool
	}{{1000, 4096, false}, {3*store.BlobChunkBytes + 5, 4096, true}, {5000, 4096, true}} {
		data := randomBytes(c.size, byte(c.size))
		sp := store.NewSpool(int64(c.limit))
		// Writes of 1500 bytes (the wrapper hides bytes.Reader's WriteTo),
		// so the spill comes in the middle of the content.
		if _, err := io.CopyBuffer(sp, struct{ io.Reader }{bytes.NewReader(data)}, make([]byte, 1500)); err != nil {
			t.Fatal(err)
		}
		if sp.Spilled() != c.spilled {
			t.Errorf("%d bytes over a %d-byte threshold: spilled %v, want %v", c.size, c.limit, sp.Spilled(), c.spilled)
		}
		want := sha256.Sum256(data)
		if !bytes.Equal(sp.SHA256(), want[:]) || sp.Size() != int64(c.size) {
			t.Errorf("%d bytes: spool says %x, %d", c.size, sp.SHA256(), sp.Size())
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error {
			return tx.PutBlobStream(ctx, sp.SHA256(), sp.Size(), sp.Open)
		}); err != nil {
			t.Fatal(err)
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Blob(ctx, want[:]); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %v, %d bytes", c.size, err, len(got))
		}
	}
}

// A blob's chunks go with it when the purge deletes it.
func TestBlobChunksDeletedWithBlob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	sha, err := st.PutBlob(ctx, randomBytes(3*store.BlobChunkBytes, 9))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `DELETE FROM blobs WHERE sha256 = $1`, sha); err != nil {
		t.Fatal(err)
	}
	if n := chunkRows(t, st, sha); n != 0 {
		t.Errorf("%d chunk rows outlived their blob", n)
	}
}

// Large content put through the pool writes its row and chunks in a
// transaction of its own, so the pool's rule holds for it too: inside one of
// the store's transactions it is refused, never run on a second connection.
func TestBlobPutOnPoolInsideTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	big := randomBytes(2*store.BlobChunkBytes, 10)
	err := st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := st.PutBlob(ctx, big)
		return err
	})
	if !errors.Is(err, store.ErrNestedTx) {
		t.Fatalf("PutBlob on the pool inside a transaction: %v, want ErrNestedTx", err)
	}
}
