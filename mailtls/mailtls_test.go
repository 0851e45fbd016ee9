package mailtls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"postdesk/mailtls"
)

// testCA makes a CA and a server certificate for mail.acme.example signed
// by it; it returns the CA as PEM and the server's certificate.
func testCA(t *testing.T) (string, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Acme Test CA", Organization: []string{"Acme"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.acme.example"},
		DNSNames: []string{"mail.acme.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serve accepts TLS connections and completes their handshakes.
func serve(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return l.Addr().String()
}

func dial(addr string, o mailtls.Options) error {
	cfg, err := mailtls.Config(o)
	if err != nil {
		return err
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return mailtls.Explain(err)
	}
	return c.Close()
}

func TestCABundle(t *testing.T) {
	caPEM, cert := testCA(t)
	addr := serve(t, cert)
	// The server is reached at 127.0.0.1; its certificate names
	// mail.acme.example, so tls_server_name is needed too.
	if err := dial(addr, mailtls.Options{CA: caPEM, ServerName: "mail.acme.example"}); err != nil {
		t.Errorf("with tls_ca: %v", err)
	}
	err := dial(addr, mailtls.Options{ServerName: "mail.acme.example"})
	if err == nil {
		t.Fatal("trusted without tls_ca")
	}
	for _, want := range []string{"certificate for mail.acme.example", `issued by "CN=Acme Test CA,O=Acme"`, "tls_ca"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("without tls_ca: %q lacks %q", err, want)
		}
	}
	err = dial(addr, mailtls.Options{CA: caPEM})
	if err == nil || !strings.Contains(err.Error(), `the name checked was "127.0.0.1"`) || !strings.Contains(err.Error(), "tls_server_name") {
		t.Errorf("wrong name: %v", err)
	}
}

func TestMinVersion(t *testing.T) {
	caPEM, cert := testCA(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	addr := l.Addr().String()
	if err := dial(addr, mailtls.Options{CA: caPEM, ServerName: "mail.acme.example", MinVersion: "1.2"}); err != nil {
		t.Errorf("1.2 against a 1.2 server: %v", err)
	}
	if err := dial(addr, mailtls.Options{CA: caPEM, ServerName: "mail.acme.example", MinVersion: "1.3"}); err == nil {
		t.Error("tls_min_version 1.3 accepted a TLS 1.2 server")
	}
	if _, err := mailtls.Config(mailtls.Options{MinVersion: "1.1"}); err == nil {
		t.Error("1.1 accepted")
	}
	if _, err := mailtls.Config(mailtls.Options{CA: "not pem"}); err == nil {
		t.Error("a CA without PEM accepted")
	}
}
