package repeat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// place is a normalised district and street. Chinese names keep their
// street's suffix (张杨路, 深南大道) and lose the district's (浦东新区 →
// 浦东); romanised names keep neither (Pudong New Area → pudong,
// Zhangyang Road / Zhangyang Lu → zhangyang).
type place struct{ district, street string }

func (p place) String() string {
	if p.district == "" && p.street == "" {
		return ""
	}
	return p.district + "|" + p.street
}

func splitPlace(s string) place {
	d, st, _ := strings.Cut(s, "|")
	return place{d, st}
}

// Chinese suffixes, longest first.
var (
	zhDistrictSuffixes = []string{"新区", "区", "县"}
	zhCitySuffixes     = []string{"自治区", "省", "市"}
	zhSubdistricts     = []string{"街道", "镇", "乡"}
	zhStreetSuffixes   = []string{"大道", "胡同", "路", "街", "巷", "弄", "小区"}
)

// Romanised words.
var (
	directions      = map[string]bool{"north": true, "south": true, "east": true, "west": true, "middle": true, "bei": true, "nan": true, "dong": true, "xi": true, "zhong": true}
	enDistrictWords = map[string]bool{"district": true, "qu": true, "county": true}
	enStreetWords   = map[string]bool{"road": true, "rd": true, "street": true, "st": true, "lu": true,
		"avenue": true, "ave": true, "lane": true, "ln": true, "nong": true, "jie": true, "dadao": true,
		"boulevard": true, "blvd": true, "alley": true, "hutong": true}
	// Words of an address that name neither a district nor a street.
	enFiller = map[string]bool{"new": true, "area": true, "no": true, "number": true, "building": true,
		"bldg": true, "apt": true, "apartment": true, "room": true, "floor": true, "unit": true,
		"china": true, "prc": true, "city": true, "province": true, "near": true, "the": true, "of": true,
		"at": true, "in": true, "on": true, "and": true, "corner": true, "community": true, "compound": true,
		"shanghai": true, "beijing": true, "shenzhen": true, "guangzhou": true}
)

// parsePlace finds the district and the street in a place or, more
// cautiously, in a text: there a street counts only with a house number
// (张杨路500号, "500 Zhangyang Road") or at a crossing (漕溪北路和…, 路口),
// since 跑路 or "the road" are not places.
func parsePlace(s string, inText bool) place { return parseFolded(fold(s), inText) }

// parseFolded is parsePlace of a string already folded.
func parseFolded(s string, inText bool) place {
	if hasHan(s) {
		return parseZh(s, inText)
	}
	return parseEn(s, inText)
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func parseZh(s string, inText bool) place {
	// Keep ideographs only; addresses are written without spaces.
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r):
			b.WriteRune(r)
		case '0' <= r && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	s = b.String()
	var p place
	// Drop the province and the city: everything up to the last of them
	// that comes before a district.
	if i, n := firstSuffix(s, zhDistrictSuffixes); i >= 0 {
		head := s[:i]
		if j, m := lastSuffix(head, zhCitySuffixes); j >= 0 {
			head = head[j+m:]
		}
		p.district = lastRun(head, 4)
		s = s[i+n:]
	}
	if i, n := firstSuffix(s, zhSubdistricts); i >= 0 {
		s = s[i+n:]
	}
	if i, n := firstSuffix(s, zhStreetSuffixes); i >= 0 {
		rest := s[i+n:]
		next, _ := utf8.DecodeRuneInString(rest)
		named := !inText || leadingDigits(rest) > 0 || strings.ContainsRune("和与口", next)
		if name := lastRun(s[:i], 4); named && utf8.RuneCountInString(name) >= 2 {
			p.street = name + s[i:i+n]
			if s[i:i+n] != "小区" {
				p.street += rest[:leadingDigits(rest)]
			}
		}
	}
	if p.district == "" && p.street == "" {
		// A bare district name (浦东) when that is all there is.
		if f := strings.Fields(s); len(f) == 1 && utf8.RuneCountInString(f[0]) <= 3 {
			p.district = f[0]
		}
	}
	return p
}

// firstSuffix finds the first of suffixes in s; "街" is not taken for the
// start of "街道".
func firstSuffix(s string, suffixes []string) (at, n int) {
	at = -1
	for _, suf := range suffixes {
		from := 0
		for {
			i := strings.Index(s[from:], suf)
			if i < 0 {
				break
			}
			i += from
			if suf == "街" && strings.HasPrefix(s[i:], "街道") ||
				suf == "区" && strings.ContainsRune(notDistrict, lastRune(s[:i])) {
				from = i + len(suf)
				continue
			}
			if i > 0 && (at < 0 || i < at) {
				at, n = i, len(suf)
			}
			break
		}
	}
	return at, n
}

func lastSuffix(s string, suffixes []string) (at, n int) {
	at = -1
	for _, suf := range suffixes {
		if i := strings.LastIndex(s, suf); i > at {
			at, n = i, len(suf)
		}
	}
	return at, n
}

// notDistrict are the ideographs before 区 when it is not a district
// (小区, 社区, 园区, 景区, 校区, 厂区, 市区, 郊区, 片区, 病区).
const notDistrict = "小社园景校厂市郊片病"

// notInName are ideographs that do not occur in a street's name but often
// before one in a sentence (那个路口, 我家门口的马路).
const notInName = "的了是在个那这和与及从到向往对过条边旁我你他她它们有没就都也还又很"

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// lastRun is the last up to limit ideographs of s before its end, stopping
// at a space or a character that is not in names.
func lastRun(s string, limit int) string {
	start := len(s)
	for n := 0; n < limit && start > 0; n++ {
		r, size := utf8.DecodeLastRuneInString(s[:start])
		if !unicode.Is(unicode.Han, r) || strings.ContainsRune(notInName, r) {
			break
		}
		start -= size
	}
	return s[start:]
}

var apostrophes = strings.NewReplacer("'", "", "’", "")

func parseEn(s string, inText bool) place {
	s = apostrophes.Replace(s) // Jing'an → jingan
	words := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	var p place
	used := make([]bool, len(words))
	for i, w := range words {
		if w == "area" && i >= 2 && words[i-1] == "new" && p.district == "" {
			p.district = words[i-2]
			used[i-2], used[i-1], used[i] = true, true, true
			continue
		}
		if i == 0 || used[i-1] || isNumber(words[i-1]) || enFiller[words[i-1]] || stopWords[words[i-1]] {
			continue
		}
		switch {
		case enStreetWords[w] && p.street == "":
			name, first := words[i-1], i-1
			if directions[name] && i >= 2 && !isNumber(words[i-2]) && !enFiller[words[i-2]] {
				name, first = words[i-2]+" "+name, i-2 // Caoxi North Road
			}
			numbered := first > 0 && isNumber(words[first-1])
			if inText && !numbered {
				continue
			}
			p.street = name
			if numbered {
				p.street = name + " " + words[first-1] // 500 Zhangyang Road
			}
			for k := first; k <= i; k++ {
				used[k] = true
			}
		case enDistrictWords[w] && p.district == "":
			p.district = words[i-1]
			used[i-1], used[i] = true, true
		}
	}
	if p.district != "" || inText || len(words) > 6 {
		// A text, or an address whose district is named: nothing more.
		return p
	}
	// A short address: its first remaining word is the district
	// ("Zhangyang Road, Pudong"; "Pudong").
	for i, w := range words {
		if i+1 < len(words) && enStreetWords[words[i+1]] {
			continue // a street's name
		}
		if !used[i] && !isNumber(w) && !enFiller[w] && !enStreetWords[w] && !enDistrictWords[w] && !stopWords[w] {
			p.district = w
			break
		}
	}
	return p
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n
}

func isNumber(w string) bool {
	for _, r := range w {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return w != ""
}

type placeRelation int

const (
	placeUnknown placeRelation = iota
	placeSame
	placeDiffers
)

// comparePlaces tells whether two normalised places are the same, differ,
// or cannot be compared (unknown, or one written in Chinese and the other
// romanised), district and street each on their own.
func comparePlaces(a, b string) placeRelation {
	if a == "" || b == "" {
		return placeUnknown
	}
	pa, pb := splitPlace(a), splitPlace(b)
	same := false
	// A romanised name cannot be compared with a Chinese one.
	if pa.district != "" && pb.district != "" && hasHan(pa.district) == hasHan(pb.district) {
		if pa.district != pb.district {
			return placeDiffers
		}
		same = true
	}
	if pa.street != "" && pb.street != "" && hasHan(pa.street) == hasHan(pb.street) {
		if !sameStreet(pa.street, pb.street) {
			return placeDiffers
		}
		same = true
	}
	if same {
		return placeSame
	}
	return placeUnknown
}

// sameStreet compares streets, with the house number when both have one:
// 张杨路 is 张杨路500, 深南大道1000 is not 深南大道9000.
func sameStreet(a, b string) bool {
	na, ha := splitNumber(a)
	nb, hb := splitNumber(b)
	return na == nb && (ha == "" || hb == "" || ha == hb)
}

func splitNumber(street string) (name, number string) {
	if i := strings.LastIndexByte(street, ' '); i >= 0 && isNumber(street[i+1:]) {
		return street[:i], street[i+1:]
	}
	i := len(street)
	for i > 0 && '0' <= street[i-1] && street[i-1] <= '9' {
		i--
	}
	return street[:i], street[i:]
}
