package senderauth

import (
	"strings"
	"testing"
)

// The mail of each case is a header written top-down as it arrives: the
// trusted MTA is mx.example.com; the staff member writes from
// aino@example.com.
const (
	mxHop     = "Received: from out.example.com (out.example.com [192.0.2.10]) by mx.example.com (Postfix) with ESMTPS id 4Xy; Tue, 1 Dec 2026 08:00:00 +0000\r\n"
	lmtpHop   = "Received: from mx.example.com by imap.example.com (Dovecot) with LMTP id abc; Tue, 1 Dec 2026 08:00:01 +0000\r\n"
	otherHop  = "Received: from evil.example (evil.example [198.51.100.7]) by relay.evil.example (Postfix) with ESMTP id 9Q; Tue, 1 Dec 2026 07:59:00 +0000\r\n"
	mailBody  = "From: Aino Example <aino@example.com>\r\nTo: payroll+tok@example.com\r\nSubject: Re: [#42] Salary\r\n\r\nHello\r\n"
	ar        = "Authentication-Results: "
	mxPass    = ar + "mx.example.com; dkim=pass (2048-bit key) header.d=example.com header.s=s1; spf=pass smtp.mailfrom=example.com; dmarc=pass (p=reject) header.from=example.com\r\n"
	mxFail    = ar + "mx.example.com; dkim=none; spf=fail smtp.mailfrom=evil.example; dmarc=fail (p=reject) header.from=example.com\r\n"
	mxDKIMSub = ar + "mx.example.com; dkim=pass header.d=mail.example.com; dmarc=none\r\n"
	mxDKIMOff = ar + "mx.example.com; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=evil.example; dmarc=fail header.from=example.com\r\n"
	mxNoAuth  = ar + "mx.example.com; spf=pass smtp.mailfrom=example.com\r\n"
	evilPass  = ar + "relay.evil.example; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n"
	forged    = ar + "mx.example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n"
)

// TestEvaluate is the table of issue 10: each header and the staff powers
// it gives (Pass), in the manner of RFC 8601's examples.
func TestEvaluate(t *testing.T) {
	trusted := []string{"mx.example.com", "imap.example.com"}
	for _, tc := range []struct {
		name   string
		header string
		from   string
		pass   bool
		method string
		reason string // a part of the reason
	}{
		{"dmarc pass", mxPass + mxHop, "aino@example.com", true, "dmarc", "dmarc=pass"},
		{"dmarc pass below our own LMTP hop", lmtpHop + mxPass + mxHop, "aino@example.com", true, "dmarc", "dmarc=pass"},
		{"Gmail order: the MX's hop above its result", mxHop + mxPass, "aino@example.com", true, "dmarc", "dmarc=pass"},
		{"dmarc fail", mxFail + mxHop, "aino@example.com", false, "", "dmarc=fail"},
		{"missing", mxHop, "aino@example.com", false, "", "no Authentication-Results"},
		{"no header at all", "", "aino@example.com", false, "", "no Authentication-Results"},
		{"untrusted authserv-id claiming pass", evilPass + mxHop, "aino@example.com", false, "", "no Authentication-Results"},
		{"untrusted claim above the trusted fail: ignored", evilPass + mxFail + mxHop, "aino@example.com", false, "", "dmarc=fail"},
		{"untrusted fail above the trusted pass: ignored", ar + "relay.evil.example; dmarc=fail\r\n" + mxPass + mxHop, "aino@example.com", true, "dmarc", ""},
		{"trusted-looking header below an untrusted hop", otherHop + forged, "aino@example.com", false, "", "relay.evil.example"},
		{"trusted-looking header the sender wrote, below our hop and a foreign one", mxHop + otherHop + forged, "aino@example.com", false, "", "relay.evil.example"},
		{"only the topmost trusted header counts", mxFail + forged + mxHop, "aino@example.com", false, "", "dmarc=fail"},
		{"dkim pass unaligned", mxDKIMOff + mxHop, "aino@example.com", false, "", "not aligned"},
		{"dkim pass aligned (subdomain, relaxed)", mxDKIMSub + mxHop, "aino@example.com", true, "dkim", "aligned"},
		{"dkim pass aligned, dmarc pass for another domain", ar + "mx.example.com; dmarc=pass header.from=evil.example; dkim=pass header.d=example.com\r\n", "aino@example.com", true, "dkim", ""},
		{"dmarc pass for another From domain", ar + "mx.example.com; dmarc=pass header.from=evil.example\r\n", "aino@example.com", false, "", "dmarc=pass"},
		{"no DMARC or DKIM result", mxNoAuth + mxHop, "aino@example.com", false, "", "no DMARC or DKIM"},
		{"authserv-id in other case", strings.Replace(mxPass, "mx.example.com", "MX.Example.COM", 1) + mxHop, "aino@example.com", true, "dmarc", ""},
		{"public suffix is no organizational domain", ar + "mx.example.com; dkim=pass header.d=co.uk\r\n", "aino@evil.co.uk", false, "", "not aligned"},
		{"no From", mxPass + mxHop, "", false, "", "no From"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Policy{AuthservIDs: trusted, RequirePass: true}
			got := p.Check([]byte(tc.header+mailBody), tc.from)
			if got.Pass != tc.pass || got.Method != tc.method || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("Check = %+v; want pass %v method %q reason containing %q", got, tc.pass, tc.method, tc.reason)
			}
		})
	}
}

func TestPolicyDisabled(t *testing.T) {
	var p *Policy
	if p.Enabled() || p.Check([]byte(mxPass+mailBody), "aino@example.com").Pass {
		t.Error("a nil policy verified a sender")
	}
	if (&Policy{}).Check([]byte(mxPass+mailBody), "aino@example.com").Pass {
		t.Error("a policy without authserv-ids verified a sender")
	}
}

func TestReceivedBy(t *testing.T) {
	for in, want := range map[string]string{
		"from a.example (a.example [192.0.2.1]) by MX.Example.com (Postfix) with ESMTPS id 1; Tue, 1 Dec 2026": "mx.example.com",
		"from x (authenticated by nobody) by mx.example.com.; date":                                            "mx.example.com",
		"from x with local; Tue, 1 Dec 2026 by nothing":                                                        "",
		"": "",
	} {
		if got := receivedBy(in); got != want {
			t.Errorf("receivedBy(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(mxPass + mxHop + mailBody))
	f.Add([]byte(otherHop + forged + mailBody))
	f.Add([]byte(ar + "mx.example.com; dkim=pass header.i=@example.com\r\n\r\n"))
	p := &Policy{AuthservIDs: []string{"mx.example.com"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := p.Check(raw, "aino@example.com")
		if r.Pass && r.Method == "" {
			t.Errorf("a pass without a method: %+v", r)
		}
	})
}
