package smsapi

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ProviderSendChars is the most characters Aliyun and Tencent accept in one
// send, counted on the message as delivered: 【signature】, the template's
// fixed text and the variable's value (Aliyun's SMS message rules, Tencent's
// SMS content rules). A longer send is refused, not split by the provider.
const ProviderSendChars = 500

// minPieceChars is the least room a send must leave for the reply: below it
// the numbering would crowd out the text.
const minPieceChars = 20

// pieceRoom is how many characters of reply one send carries: the send
// limit less the signature and the template's fixed text, within the
// variable's cap. 0 means no limit.
func pieceRoom(sendChars int, signName string, fixedChars, varCap int) int {
	room := 0
	if sendChars > 0 {
		room = sendChars - units(Signature(signName)) - fixedChars
	}
	if varCap > 0 && (room == 0 || varCap < room) {
		room = varCap
	}
	return room
}

// SplitSends splits a reply into the template values of consecutive sends,
// each at most room characters (UTF-16 units; ≤0: no limit). A reply that
// fits is returned whole; a longer one is cut into pieces that each start
// with their number, "(1/3)", "(2/3)", "(3/3)", since the provider may
// deliver separate sends out of order. Pieces end, where one is near, after
// a sentence or clause mark or a space, and never inside a character;
// without their numbers they join back to text. nil if text is empty or
// room leaves no space beside the number.
func SplitSends(text string, room int) []string {
	if text == "" {
		return nil
	}
	if room <= 0 || units(text) <= room {
		return []string{text}
	}
	// The label's width depends on the count, the count on the width: try
	// widths until the count fits its digits.
	for digits := 1; digits <= 4; digits++ {
		width := 2*digits + 3 // "(" n "/" n ")"
		if room-width < 1 {
			return nil
		}
		chunks := chunk(text, room-width)
		if len(chunks) < pow10(digits) {
			out := make([]string, len(chunks))
			total := strconv.Itoa(len(chunks))
			for i, c := range chunks {
				out[i] = "(" + strconv.Itoa(i+1) + "/" + total + ")" + c
			}
			return out
		}
	}
	return nil
}

// StripNumber removes the "(i/n)" a split piece starts with.
func StripNumber(piece string) string {
	if !strings.HasPrefix(piece, "(") {
		return piece
	}
	end := strings.IndexByte(piece, ')')
	if end < 0 {
		return piece
	}
	i, n, ok := strings.Cut(piece[1:end], "/")
	if !ok || !allDigits(i) || !allDigits(n) {
		return piece
	}
	return piece[end+1:]
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// breakAfter are the characters a piece preferably ends with.
const breakAfter = "。！？；，、：.!?;,: \n"

// chunk cuts text into pieces of at most room units, ending a piece after
// the last break character in its final fifth when there is one.
func chunk(text string, room int) []string {
	var out []string
	for text != "" {
		if units(text) <= room {
			return append(out, text)
		}
		end, used, lastBreak := 0, 0, 0
		for end < len(text) {
			r, size := utf8.DecodeRuneInString(text[end:])
			w := runeUnits(r)
			if used+w > room {
				break
			}
			used += w
			end += size
			if strings.ContainsRune(breakAfter, r) && used >= room-room/5 {
				lastBreak = end
			}
		}
		if end == 0 { // one character wider than room (an emoji in room 1): it goes alone
			_, end = utf8.DecodeRuneInString(text)
		}
		if lastBreak > 0 {
			end = lastBreak
		}
		out = append(out, text[:end])
		text = text[end:]
	}
	return out
}
