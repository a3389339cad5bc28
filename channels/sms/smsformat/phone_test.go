package smsformat_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, nationcode, want string
	}{
		{"13800138000", "", "+8613800138000"},
		{"138 0013 8000", "", "+8613800138000"},
		{"138-0013-8000", "", "+8613800138000"},
		{"8613800138000", "", "+8613800138000"},
		{"+8613800138000", "", "+8613800138000"},
		{"+86 (138) 0013-8000", "", "+8613800138000"},
		{"008613800138000", "", "+8613800138000"},
		{" 13800138000 ", "", "+8613800138000"},
		{"13800138000", "86", "+8613800138000"},
		{"13800138000", "+86", "+8613800138000"},
		{"13800138000", "0086", "+8613800138000"},
		{"8613800138000", "86", "+8613800138000"},
		{"+8613800138000", "86", "+8613800138000"},
		{"91234567", "852", "+85291234567"},
		{"07911123456", "44", "+447911123456"},
		{"+14155550123", "", "+14155550123"},
		{"+861012345678", "", "+861012345678"}, // Beijing landline, written internationally
		{"01012345678", "86", "+861012345678"},
	}
	for _, tt := range tests {
		t.Run(tt.raw+"/"+tt.nationcode, func(t *testing.T) {
			got, err := smsformat.NormalizePhone(tt.raw, tt.nationcode)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			again, err := smsformat.NormalizePhone(got, "")
			require.NoError(t, err, "E.164 output must normalise to itself")
			require.Equal(t, got, again)
		})
	}
}

func TestNormalizePhoneErrors(t *testing.T) {
	tests := []struct {
		name, raw, nationcode string
	}{
		{"empty", "", ""},
		{"blank", "  ", ""},
		{"letters", "138abcd8000", ""},
		{"full-width digits", "１３８００１３８０００", ""},
		{"plus only", "+", ""},
		{"short mobile", "1380013800", ""},
		{"long mobile", "138001380001", ""},
		{"national landline without code", "01012345678", ""},
		{"foreign national without code", "91234567", ""},
		{"+86 mobile with 12 digits", "+86138001380001", ""},
		{"country code 0", "+0123456789", ""},
		{"too long", "+1234567890123456", ""},
		{"too short", "+12345", ""},
		{"bad nationcode", "13800138000", "8a"},
		{"nationcode too long", "13800138000", "8612"},
		{"embedded plus", "138+00138000", ""},
		{"huge input", string(make([]byte, 1000)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := smsformat.NormalizePhone(tt.raw, tt.nationcode)
			require.ErrorIs(t, err, smsformat.ErrInvalidPhone)
		})
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+8613812345678", "+86138****5678"},
		{"+14155550123", "+141****0123"},
		{"+85291234567", "+852****4567"},
		{"+1234567", "+****67"},
		{"+12", "+****"},
		{"13812345678", "+138****5678"},
		{"", "****"},
		{"+86 138 1234 5678", "****"},
		{"not a phone", "****"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, smsformat.MaskPhone(tt.in))
		})
	}
}
