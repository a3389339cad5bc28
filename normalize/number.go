package normalize

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Request numbers (contract §11) are what a citizen reads out on the phone
// and an agent types into a search box:
//
//	YYMMDD  SSSSS  C      e.g. 260612 00001 7 → 260612000017
//
// YYMMDD is the date the gateway received the request in China Standard
// Time; SSSSS the day's sequence from 00001, five digits, widening to six
// past 99,999 and to seven past 999,999 (14 digits, the schema's maximum);
// C a Luhn check digit over the digits before it, so that any single mistyped
// digit, and almost any two swapped neighbours, is caught before a look-up.
// The date is always the first six digits, so the length tells the width of
// the sequence and no two (day, sequence) pairs share a number.

// NumberZone is the time zone of a number's date: China Standard Time, UTC+8
// all year (Asia/Shanghai has kept no daylight saving time since 1991), fixed
// so that the gateway needs no time-zone database.
var NumberZone = time.FixedZone("CST", 8*60*60)

// MaxNumberSeq is the highest daily sequence a number can carry.
const MaxNumberSeq = 9_999_999

// ErrBadNumber: a string is not a request number (wrong length, not digits,
// or a check digit that does not match: a digit was mistyped).
var ErrBadNumber = errors.New("not a request number")

// NumberDay returns the date part (YYMMDD) of the numbers of requests
// received at t.
func NumberDay(t time.Time) string { return t.In(NumberZone).Format("060102") }

// FormatNumber returns the number of the seq-th request (from 1) of day
// (YYMMDD, as NumberDay returns it).
func FormatNumber(day string, seq uint64) (string, error) {
	if len(day) != 6 || !digits(day) {
		return "", fmt.Errorf("%w: day %q is not YYMMDD", ErrBadNumber, day)
	}
	if seq < 1 || seq > MaxNumberSeq {
		return "", fmt.Errorf("%w: sequence %d of day %s is outside 1..%d", ErrBadNumber, seq, day, MaxNumberSeq)
	}
	body := fmt.Sprintf("%s%05d", day, seq)
	return body + string('0'+luhnCheck(body)), nil
}

// ParseNumber checks a request number (12 to 14 digits, the check digit
// matching) and returns its day and sequence. The error wraps ErrBadNumber
// and says what is wrong, for the person who typed it.
func ParseNumber(s string) (day string, seq uint64, err error) {
	if len(s) < 12 || len(s) > 14 || !digits(s) {
		return "", 0, fmt.Errorf("%w: a request number is 12 to 14 digits", ErrBadNumber)
	}
	body := s[:len(s)-1]
	if byte('0'+luhnCheck(body)) != s[len(s)-1] {
		return "", 0, fmt.Errorf("%w: its check digit does not match; a digit was probably mistyped", ErrBadNumber)
	}
	seq, _ = strconv.ParseUint(body[6:], 10, 64)
	if seq == 0 || (len(body[6:]) > 5 && body[6] == '0') { // never formatted so
		return "", 0, fmt.Errorf("%w: no request has this sequence", ErrBadNumber)
	}
	return body[:6], seq, nil
}

// luhnCheck returns the Luhn check digit of the decimal string body: with
// it appended, every second digit from the right (starting with the one
// left of the check digit) doubled and reduced to one digit, the sum is a
// multiple of ten.
func luhnCheck(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte((10 - sum%10) % 10)
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
