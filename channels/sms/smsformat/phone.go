package smsformat

import (
	"fmt"
	"strings"
)

// NormalizePhone turns a provider's phone field into E.164 ("+8613812345678").
//
// Accepted: "+<cc><number>" and "00<cc><number>"; a mainland mobile of 11
// digits starting with 1 (→ +86…), also when prefixed with 86; and, when
// nationcode is given (Tencent's separate country-code field, "86" or "+86"),
// a national number in that country (a single trunk "0" is dropped).
// Spaces, hyphens, dots and parentheses are ignored. Anything else —
// letters, a bare national number with no country code, a wrong length — is
// an error matching ErrInvalidPhone that never quotes the number.
func NormalizePhone(raw, nationcode string) (string, error) {
	s := stripPhone(raw)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidPhone)
	}
	intl := false
	switch {
	case strings.HasPrefix(s, "+"):
		s, intl = s[1:], true
	case strings.HasPrefix(s, "00"):
		s, intl = s[2:], true
	}
	if !allDigits(s) {
		return "", fmt.Errorf("%w: not numeric", ErrInvalidPhone)
	}
	nc, err := normNationcode(nationcode)
	if err != nil {
		return "", err
	}

	var e string
	switch {
	case intl:
		e = s
	case nc == "86" && isMainlandWithCode(s):
		e = s
	case nc != "":
		e = nc + strings.TrimPrefix(s, "0")
	case isMainlandMobile(s):
		e = "86" + s
	case isMainlandWithCode(s):
		e = s
	default:
		return "", fmt.Errorf("%w: no country code", ErrInvalidPhone)
	}
	if err := checkE164(e); err != nil {
		return "", err
	}
	return "+" + e, nil
}

// normNationcode strips "+" or "00" from a country calling code and checks
// it is 1 to 3 digits not starting with 0; "" stays "".
func normNationcode(nationcode string) (string, error) {
	nc := stripPhone(nationcode)
	nc = strings.TrimPrefix(nc, "+")
	nc = strings.TrimPrefix(nc, "00")
	if nc != "" && (!allDigits(nc) || len(nc) > 3 || nc[0] == '0') {
		return "", fmt.Errorf("%w: bad country code", ErrInvalidPhone)
	}
	return nc, nil
}

func isMainlandMobile(s string) bool { return len(s) == 11 && s[0] == '1' }

func isMainlandWithCode(s string) bool {
	return len(s) == 13 && strings.HasPrefix(s, "86") && s[2] == '1'
}

// checkE164 validates digits after the "+": a country code not starting with
// 0, 7 to 15 digits in all, and for China an 11-digit mobile (13x–19x).
func checkE164(e string) error {
	if len(e) < 7 || len(e) > 15 {
		return fmt.Errorf("%w: wrong length", ErrInvalidPhone)
	}
	if e[0] == '0' {
		return fmt.Errorf("%w: bad country code", ErrInvalidPhone)
	}
	if strings.HasPrefix(e, "86") {
		national := e[2:]
		if national == "" || national[0] == '0' {
			return fmt.Errorf("%w: bad mainland number", ErrInvalidPhone)
		}
		// Mobiles are 13x–19x; "10" is Beijing's area code.
		if len(national) > 1 && national[0] == '1' && national[1] >= '3' && len(national) != 11 {
			return fmt.Errorf("%w: mainland mobile must have 11 digits", ErrInvalidPhone)
		}
		if len(national) < 9 {
			return fmt.Errorf("%w: wrong length", ErrInvalidPhone)
		}
	}
	return nil
}

func stripPhone(s string) string {
	if len(s) > 64 {
		return "x" // far too long for a phone number; fails the digit check
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '.', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MaskPhone hides the middle of an E.164 number for logs: the last four
// digits and a country/operator prefix stay ("+8613812345678" →
// "+86138****5678"). Input that is not "+digits" is masked entirely, so a
// mistake never leaks a number.
func MaskPhone(e164 string) string {
	digits := strings.TrimPrefix(e164, "+")
	if !allDigits(digits) || len(digits) > 15 {
		return "****"
	}
	if len(digits) < 8 {
		if len(digits) <= 2 {
			return "+****"
		}
		return "+" + "****" + digits[len(digits)-2:]
	}
	keep := len(digits) - 8
	return "+" + digits[:keep] + "****" + digits[len(digits)-4:]
}
