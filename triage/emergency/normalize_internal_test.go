package emergency

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"着 火 了！！ 快来人", "着火了|快来人"},
		{"Ｆｉｒｅ ｉｎ ｔｈｅ ｂａｓｅｍｅｎｔ", "fire in the basement"},
		{"對面大樓失火", "对面大楼失火"},
		{"著火了", "着火了"},
		{"ON FIRE!!!", "on fire|"},
		{"it isn’t a fire", "it isn't a fire"},
		{"e-bike   battery", "e bike battery"},
		{"有人“拿刀”砍人", "有人拿刀砍人"},
		{"着火 fire 着火", "着火 fire 着火"},
		{"１２０急救", "120急救"},
		{"，，开头", "开头"},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			require.Equal(t, tc.want, string(normalize(nil, tc.in)))
		})
	}
}
