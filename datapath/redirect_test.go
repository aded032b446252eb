package datapath_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

func TestCheckRedirects(t *testing.T) {
	tcp := func(s string) datapath.Frontend {
		return datapath.Frontend{Addr: netip.MustParseAddrPort(s), Protocol: maglev.ProtocolTCP}
	}
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		name  string
		rs    []datapath.Redirect
		field string // "" when valid
	}{
		{"IPv4", []datapath.Redirect{{Frontend: tcp("10.96.0.10:80"), Proxy: ap("127.0.0.1:15001")}}, ""},
		{"IPv4 to any", []datapath.Redirect{{Frontend: tcp("10.96.0.10:80"), Proxy: ap("0.0.0.0:15001")}}, ""},
		{"IPv6", []datapath.Redirect{{Frontend: tcp("[fd00::10]:80"), Proxy: ap("[::1]:15001")}}, ""},
		{"IPv6 to any", []datapath.Redirect{{Frontend: tcp("[fd00::10]:80"), Proxy: ap("[::]:15001")}}, ""},
		{"IPv4 to IPv6", []datapath.Redirect{{Frontend: tcp("10.96.0.10:80"), Proxy: ap("[::1]:15001")}}, "redirects[0].Proxy"},
		{"IPv6 to IPv4", []datapath.Redirect{{Frontend: tcp("[fd00::10]:80"), Proxy: ap("127.0.0.1:15001")}}, "redirects[0].Proxy"},
		{"mapped frontend", []datapath.Redirect{{Frontend: tcp("[::ffff:10.96.0.10]:80"), Proxy: ap("127.0.0.1:15001")}}, "redirects[0].Frontend"},
		{"mapped proxy", []datapath.Redirect{{Frontend: tcp("[fd00::10]:80"), Proxy: ap("[::ffff:127.0.0.1]:15001")}}, "redirects[0].Proxy"},
		{"mapped both", []datapath.Redirect{{Frontend: tcp("[::ffff:10.96.0.10]:80"), Proxy: ap("[::ffff:127.0.0.1]:15001")}}, "redirects[0].Frontend"},
		{"unspecified frontend", []datapath.Redirect{{Frontend: tcp("0.0.0.0:80"), Proxy: ap("127.0.0.1:15001")}}, "redirects[0].Frontend"},
		{"zone", []datapath.Redirect{{Frontend: tcp("[fd00::10]:80"), Proxy: ap("[fe80::1%lo]:15001")}}, "redirects[0].Proxy"},
		{"frontend port 0", []datapath.Redirect{{Frontend: tcp("10.96.0.10:0"), Proxy: ap("127.0.0.1:15001")}}, "redirects[0].Frontend"},
		{"no proxy", []datapath.Redirect{{Frontend: tcp("10.96.0.10:80")}}, "redirects[0].Proxy"},
		{"UDP", []datapath.Redirect{{Frontend: datapath.Frontend{Addr: ap("10.96.0.10:53"), Protocol: maglev.ProtocolUDP}, Proxy: ap("127.0.0.1:15001")}}, "redirects[0].Frontend"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := datapath.CheckRedirects(c.rs)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, datapath.ErrInvalidService)
			var le *datapath.LBError
			require.True(t, errors.As(err, &le))
			require.Equal(t, c.field, le.Field, "%v", err)
		})
	}
}

func TestRedirectOptionsValidate(t *testing.T) {
	require.NoError(t, datapath.RedirectOptions{}.Validate())
	require.NoError(t, datapath.RedirectOptions{MaxRedirects: 1, EventBuffer: 1 << 20}.Validate())
	for _, c := range []struct {
		opts  datapath.RedirectOptions
		field string
	}{
		{datapath.RedirectOptions{MaxRedirects: -1}, "MaxRedirects"},
		{datapath.RedirectOptions{EventBuffer: 100}, "EventBuffer"},
		{datapath.RedirectOptions{EventBuffer: 3 << 12}, "EventBuffer"},
	} {
		err := c.opts.Validate()
		require.ErrorIs(t, err, datapath.ErrInvalidOptions)
		var oe *datapath.OptionsError
		require.True(t, errors.As(err, &oe))
		require.Equal(t, "RedirectOptions", oe.Options)
		require.Equal(t, c.field, oe.Field)
	}
	o := datapath.RedirectOptions{}.WithDefaults()
	require.Equal(t, datapath.DefaultMaxRedirects, o.MaxRedirects)
	require.Equal(t, datapath.DefaultEventBuffer, o.EventBuffer)
}
