package repeat

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePlace(t *testing.T) {
	tests := []struct {
		in, want string
		inText   bool
	}{
		{"", "", false},
		{"浦东新区", "浦东|", false},
		{"浦东", "浦东|", false},
		{"上海市浦东新区张杨路500号", "浦东|张杨路500", false},
		{"福田区深南大道1000号", "福田|深南大道1000", false},
		{"广东省深圳市南山区粤海街道科技园路1号", "南山|科技园路1", false},
		{"浦东新区花木街道", "浦东|", false},
		{"阳光小区3号楼", "|阳光小区", false},
		{"Pudong New Area", "pudong|", false},
		{"Pudong", "pudong|", false},
		{"Pudong District", "pudong|", false},
		{"500 Zhangyang Road, Pudong New Area, Shanghai", "pudong|zhangyang 500", false},
		{"No. 500 Zhangyang Lu, Pudong", "pudong|zhangyang 500", false},
		{"Ｐｕｄｏｎｇ　Ｎｅｗ　Ａｒｅａ", "pudong|", false},
		{"the street light on Zhangyang Road has been broken for two weeks", "", true},
		{"the street light at 500 Zhangyang Road has been broken for two weeks", "|zhangyang 500", true},
		{"张杨路500号门口的路灯坏了一个星期", "|张杨路500", true},
		{"健身房突然关门跑路，预付的会员卡退不回来", "", true},
		{"漕溪北路和南丹路路口一下雨就积水", "|漕溪北路", true},
		{"还是那个路口的积水", "", true},
		{"Caoxi North Road and Nandan Road", "|caoxi north", false},
		{"Jing'an District", "jingan|", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, parsePlace(tt.in, tt.inText).String())
		})
	}
}
