// Package repeat recognises a citizen's request about a matter they already
// raised (重复诉求, contract §10), from what is kept of each request: a
// SimHash of its text and its normalised place, never the text itself.
//
// The text's sketch is a bottom-k MinHash of its features (character
// bigrams and single ideographs for Chinese, 4-grams of words otherwise)
// folded into 64 bits; two texts are about the same matter when the
// Jaccard index of their sketches is high enough. It was chosen over a
// 64-bit SimHash, which on the labelled pairs of testdata/triage did not
// reach the precision asked for at any useful recall (docs/triage.md).
//
// A Print is stored with the request and compared later, possibly by another
// version of the gateway: the hash of a given text must not change between
// releases (see Fingerprint). A change of features or hash function needs a
// new field, not a new meaning for "h".
package repeat

import (
	"math/bits"
)

// Print is what is kept of a request to recognise the same matter later: no
// text.
type Print struct {
	// Hash is the 64-bit sketch of the text's features; 0 when the text
	// had none (then the print matches nothing).
	Hash uint64 `json:"h"`
	// Place is the normalised district and street, "district|street", ""
	// when neither is known.
	Place string `json:"p,omitempty"`
}

// From which Jaccard index of two sketches the texts are about the same
// matter. When only the text can tell (a place unknown or not comparable),
// the sketches must also share minSharedTextOnly bits: two very short
// texts are not enough.
const (
	minJaccard        = 0.5
	minSharedTextOnly = 10
)

// Fingerprint makes the print of a request's text and its place (district or
// address, "" when unknown). A district or street that place does not name is
// taken from the text when it names one (浦东新区, 张杨路500号, "500 Zhangyang
// Road").
//
// Fingerprint is pure and safe for concurrent use.
func Fingerprint(text, place string) Print {
	text = fold(text)
	n := normalise(text)
	p := parsePlace(place, false)
	if p.district == "" || p.street == "" {
		// The text may say what the place does not.
		t := parseFolded(text, true)
		if p.district == "" {
			p.district = t.district
		}
		if p.street == "" {
			p.street = t.street
		}
	}
	return Print{Hash: sketch(n), Place: p.String()}
}

// Same reports whether two prints are about the same matter: both places
// known and different (another district or street, another house number
// in the same street) never are; otherwise the texts decide, more
// strictly when the places do not confirm each other. Same is symmetric.
func Same(a, b Print) bool {
	if a.Hash == 0 || b.Hash == 0 {
		return false
	}
	shared := bits.OnesCount64(a.Hash & b.Hash)
	similar := float64(shared) >= minJaccard*float64(bits.OnesCount64(a.Hash|b.Hash))
	switch comparePlaces(a.Place, b.Place) {
	case placeDiffers:
		return false
	case placeSame:
		return similar
	default:
		return similar && shared >= minSharedTextOnly
	}
}
