package tnef

import "testing"

func TestRTFBody(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		html bool
	}{
		{"plain", `{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}{\colortbl;\red0\green0\blue0;}\f0\fs20 Hei,\par lomaraha maksetaan kes\'e4kuussa.\par}`,
			"Hei,\nlomaraha maksetaan kesäkuussa.\n", false},
		{"unicode with its fallback skipped", `{\rtf1\ansi\uc1 Pri\u1074?et \u-3913?\par}`, "Priвet \uf0b7\n", false},
		{"escapes and tabs", `{\rtf1 a\{b\}c\\d\tab e\~f\_g}`, "a{b}c\\d\te\u00a0f-g", false},
		{"optional destinations skipped", `{\rtf1{\*\generator Riched20;}{\*\unknown x}{\info{\author A}}text}`, "text", false},
		{"hyperlink shows its text", `{\rtf1{\field{\*\fldinst HYPERLINK "https://example.com"}{\fldrslt ohje}}}`, "ohje", false},
		{"cyrillic code page", `{\rtf1\ansi\ansicpg1251 \'cf\'f0\'e8\'e2\'e5\'f2}`, "Привет", false},
		{"encapsulated HTML", `{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl {\f0\fswiss Arial;}}` +
			`{\*\htmltag64 <html>}{\*\htmltag64 <body>}\htmlrtf {\htmlrtf0 Hei {\*\htmltag84 <b>}\htmlrtf\b\htmlrtf0 maailma{\*\htmltag92 </b>}\htmlrtf}\htmlrtf0 ` +
			`{\*\htmltag72 </body>}{\*\htmltag64 </html>}}`, "<html><body>Hei <b>maailma</b></body></html>", true},
		{"unbalanced", `{\rtf1 a}}}{{{b`, "ab", false},
		{"empty", ``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, html := RTFBody([]byte(tt.in))
			if got != tt.want || html != tt.html {
				t.Errorf("RTFBody = %q, %v; want %q, %v", got, html, tt.want, tt.html)
			}
		})
	}
}

func FuzzRTFBody(f *testing.F) {
	f.Add([]byte(`{\rtf1\ansi\fromhtml1 {\*\htmltag64 <p>}\htmlrtf x\htmlrtf0 \'e4\u1074?\par}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		RTFBody(b)
	})
}
