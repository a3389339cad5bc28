// Package mask hides personal data in logs: phone numbers, ID numbers and
// message text never appear in full.
package mask

import (
	"fmt"
	"regexp"
	"unicode/utf8"
)

// Phone keeps the first three and last two digits: +86138******78.
func Phone(p string) string {
	n := len(p)
	if n <= 5 {
		return "***"
	}
	keep := 3
	if p[0] == '+' {
		keep = 6
	}
	if keep > n-2 {
		keep = 1
	}
	b := []byte(p)
	for i := keep; i < n-2; i++ {
		b[i] = '*'
	}
	return string(b)
}

// Text reports only the length of a message.
func Text(s string) string { return fmt.Sprintf("[%d chars]", utf8.RuneCountInString(s)) }

var (
	phoneRe = regexp.MustCompile(`\+?\d{7,16}`)
	idRe    = regexp.MustCompile(`\d{17}[\dXx]`)
)

// Scrub masks anything in free text that looks like a phone or ID number.
func Scrub(s string) string {
	s = idRe.ReplaceAllStringFunc(s, func(m string) string { return m[:4] + "**********" + m[len(m)-4:] })
	return phoneRe.ReplaceAllStringFunc(s, Phone)
}
