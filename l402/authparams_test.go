package l402

import (
	"reflect"
	"testing"
)

func TestParseAuthChallenges(t *testing.T) {
	tests := []struct {
		in      string
		want    []authChallenge
		wantErr bool
	}{
		{in: `Basic`, want: []authChallenge{{scheme: "Basic"}}},
		{in: `Negotiate abc==`, want: []authChallenge{{scheme: "Negotiate", token68: "abc=="}}},
		{in: `Basic realm="a b", charset=UTF-8`, want: []authChallenge{{scheme: "Basic", params: []authParam{{"realm", "a b"}, {"charset", "UTF-8"}}}}},
		{
			in: `Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
			want: []authChallenge{
				{scheme: "Newauth", params: []authParam{{"realm", "apps"}, {"type", "1"}, {"title", `Login to "apps"`}}},
				{scheme: "Basic", params: []authParam{{"realm", "simple"}}},
			},
		},
		{
			in:   `Bearer, Negotiate abc, L402 Version="0"`,
			want: []authChallenge{{scheme: "Bearer"}, {scheme: "Negotiate", token68: "abc"}, {scheme: "L402", params: []authParam{{"version", "0"}}}},
		},
		{in: `, ,Basic realm=x,,`, want: []authChallenge{{scheme: "Basic", params: []authParam{{"realm", "x"}}}}},
		{in: `L402 a="1"  b="2"`, want: []authChallenge{{scheme: "L402", params: []authParam{{"a", "1"}, {"b", "2"}}}}},
		{in: `L402 a="unterminated`, want: []authChallenge{{scheme: "L402"}}, wantErr: true},
		{in: `L402 a="x\`, want: []authChallenge{{scheme: "L402"}}, wantErr: true},
		{in: `"quoted" scheme`, wantErr: true},
		{in: ``},
	}
	for _, tt := range tests {
		got, err := parseAuthChallenges(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v", tt.in, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}
