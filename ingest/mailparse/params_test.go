package mailparse

import (
	"reflect"
	"testing"
)

// RFC 2045 section 5.1 parameters, RFC 2231 extensions and the ways mail
// breaks both.
func TestParseMediaType(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		typ    string
		params map[string]string
		bad    bool
	}{
		{"simple", `text/plain; charset=utf-8`, "text/plain", map[string]string{"charset": "utf-8"}, false},
		{"case and space", ` Text/HTML ;CHARSET="UTF-8" `, "text/html", map[string]string{"charset": "UTF-8"}, false},
		{"quoted boundary with slash", `multipart/report; report-type=delivery-status;` + "\r\n\t" + `boundary="5Bc2d3E4f5.1772524805/mx.example.com"`,
			"multipart/report", map[string]string{"report-type": "delivery-status", "boundary": "5Bc2d3E4f5.1772524805/mx.example.com"}, false},
		{"quoted escapes", `attachment; filename="say \"hi\".txt"`, "attachment", map[string]string{"filename": `say "hi".txt`}, false},
		{"windows path kept", `attachment; filename="C:\Users\x\a.pdf"`, "attachment", map[string]string{"filename": `C:\Users\x\a.pdf`}, false},
		{"unquoted with spaces", `attachment; filename=my file.pdf`, "attachment", map[string]string{"filename": "my file.pdf"}, false},

		// RFC 2231 section 4: charset and language.
		{"2231 utf-8", `attachment; filename*=UTF-8''P%C3%A4%C3%A4t%C3%B6s.pdf`, "attachment", map[string]string{"filename": "Päätös.pdf"}, false},
		{"2231 latin1", `attachment; filename*=iso-8859-1'fi'Ty%F6todistus.pdf`, "attachment", map[string]string{"filename": "Työtodistus.pdf"}, false},
		{"2231 quoted", `attachment; filename*="utf-8''a%20b.txt"`, "attachment", map[string]string{"filename": "a b.txt"}, false},
		// Section 3: continuations, in any order, encoded and not.
		{"2231 continuation", `attachment; filename*1="2026.xlsx"; filename*0="Ylityolista "`, "attachment", map[string]string{"filename": "Ylityolista 2026.xlsx"}, false},
		{"2231 encoded continuation", `attachment; filename*0*=UTF-8''Yli%74y%C3; filename*1*=%B6lista.xlsx`, "attachment", map[string]string{"filename": "Ylityölista.xlsx"}, false},
		{"2231 mixed continuation", `attachment; filename*0*=utf-8''%C3%A5; filename*1=" and "; filename*2*=%C3%B6`, "attachment", map[string]string{"filename": "å and ö"}, false},
		{"2231 gap ends it", `attachment; filename*0=a; filename*2=c`, "attachment", map[string]string{"filename": "a"}, false},
		{"2231 wins over plain", `attachment; filename="fallback.pdf"; filename*=utf-8''%C3%A4.pdf`, "attachment", map[string]string{"filename": "ä.pdf"}, false},
		{"2231 unknown charset", `attachment; filename*=x-unknown''abc%20d`, "attachment", map[string]string{"filename": "abc d"}, false},
		{"2231 no charset quotes", `attachment; filename*=plain.txt`, "attachment", map[string]string{"filename": "plain.txt"}, false},

		// RFC 2047 words in a quoted name: forbidden, and common.
		{"encoded word name", `application/pdf; name="=?UTF-8?B?UMOkw6R0w7ZzLnBkZg==?="`, "application/pdf", map[string]string{"name": "Päätös.pdf"}, false},
		{"encoded word boundary untouched", `multipart/mixed; boundary="=?x?="`, "multipart/mixed", map[string]string{"boundary": "=?x?="}, false},

		// Damage costs only the damaged parameter.
		{"duplicate", `multipart/mixed; boundary=a; boundary=b; charset=x`, "multipart/mixed", map[string]string{"boundary": "a", "charset": "x"}, true},
		{"name without value", `multipart/mixed; foo; boundary=a`, "multipart/mixed", map[string]string{"boundary": "a"}, true},
		{"unterminated quote", `attachment; size=3; filename="a;b.pdf`, "attachment", map[string]string{"size": "3", "filename": "a;b.pdf"}, true},
		{"junk after quote", `text/plain; charset="utf-8"junk; format=flowed`, "text/plain", map[string]string{"charset": "utf-8", "format": "flowed"}, true},
		{"empty", ``, "", map[string]string{}, false},
		{"trailing semicolons", `text/plain;;; `, "text/plain", map[string]string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, params, err := parseMediaType(tt.value)
			if typ != tt.typ || !reflect.DeepEqual(params, tt.params) {
				t.Errorf("parseMediaType(%q) = %q, %q; want %q, %q", tt.value, typ, params, tt.typ, tt.params)
			}
			if (err != nil) != tt.bad {
				t.Errorf("err = %v, want error: %v", err, tt.bad)
			}
		})
	}
}

func TestContentTypeFallback(t *testing.T) {
	tests := []struct {
		header, def, want string
		problem           bool
	}{
		{"", "text/plain", "text/plain", false},
		{"", "message/rfc822", "message/rfc822", false},
		{"image/PNG", "text/plain", "image/png", false},
		{"text", "text/plain", "text/plain", true},
		{"application/", "text/plain", "text/plain", true},
		{"bad type/x; charset=utf-8", "text/plain", "text/plain", true},
	}
	for _, tt := range tests {
		p := &parser{lim: DefaultLimits, m: &Message{}}
		h, _ := p.readHeader([]byte("Content-Type: "+tt.header+"\r\n\r\n"), false)
		got, _ := p.contentType(h, tt.def)
		if got != tt.want || (len(p.m.Problems) > 0) != tt.problem {
			t.Errorf("contentType(%q) = %q, problems %q; want %q, problem %v", tt.header, got, p.m.Problems, tt.want, tt.problem)
		}
	}
}

// RFC 2047 with every charset go-message/charset knows.
func TestDecodeWords(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"plain", "plain", false},
		{"=?utf-8?q?p=C3=A4iv=C3=A4=C3=A4?=", "päivää", false},
		{"=?UTF-8?B?w6TDtsOl4oKs?=", "äöå€", false},
		{"=?iso-8859-1?q?=E4=F6=E5?=", "äöå", false},
		{"=?windows-1252?q?=80_=93x=94?=", "€ “x”", false},
		{"=?iso-8859-15?q?=A4?=", "€", false},
		{"=?koi8-r?b?8NLJ18XU?=", "Привет", false},
		{"=?shift_jis?b?k/qWe4zq?=", "日本語", false},
		{"=?iso-2022-jp?b?GyRCRnxLXDhsGyhC?=", "日本語", false},
		{"=?utf-8*fi?q?kieli?=", "kieli", false}, // RFC 2231 section 5 language tag
		// Whitespace between adjacent words goes (RFC 2047 section 6.2),
		// and UTF-8 split across two words joins up again.
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab", false},
		{"=?utf-8?b?w6Q=?= =?utf-8?b?w7Y=?=", "äö", false},
		{"=?utf-8?q?=C3?= =?utf-8?q?=A4?=", "ä", false},
		{"Re: =?utf-8?q?t=C3=B6it=C3=A4?= [#12]", "Re: töitä [#12]", false},
		{"=?broken", "=?broken", false},
		{"=?x-unknown?q?abc?=", "abc", true},
	}
	for _, tt := range tests {
		got, err := decodeWords(tt.in)
		if got != tt.want || (err != nil) != tt.bad {
			t.Errorf("decodeWords(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
