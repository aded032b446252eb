package limitsfile_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni/internal/limitsfile"
)

var sample = limitsfile.File{
	Comment:  []string{"Generated for a test. <Do not edit> & enjoy.", `quotes " and \ backslashes`},
	Source:   "EC2 DescribeInstanceTypes",
	Region:   "eu-west-3",
	Endpoint: "http://127.0.0.1:8080",
	Date:     "2026-01-02",
	Rows: []limitsfile.Row{
		{InstanceType: "t2.medium", MaxENIs: 3, IPv4PerENI: 6, IPv6PerENI: 6, Hypervisor: "xen", VCPUs: 2},
		{InstanceType: "m5.metal", MaxENIs: 15, IPv4PerENI: 50, IPv6PerENI: 50, BareMetal: true, VCPUs: 96},
		{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2},
	},
}

const sampleText = `{
  "version": 1,
  "comment": [
    "Generated for a test. <Do not edit> & enjoy.",
    "quotes \" and \\ backslashes"
  ],
  "source": "EC2 DescribeInstanceTypes",
  "region": "eu-west-3",
  "endpoint": "http://127.0.0.1:8080",
  "date": "2026-01-02",
  "columns": ["instance_type", "max_enis", "ipv4_per_eni", "ipv6_per_eni", "hypervisor", "bare_metal", "vcpus"],
  "types": [
    ["m5.large", 3, 10, 10, "nitro", false, 2],
    ["m5.metal", 15, 50, 50, "", true, 96],
    ["t2.medium", 3, 6, 6, "xen", false, 2]
  ]
}
`

func TestEncode(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, limitsfile.Encode(&b, sample))
	require.Equal(t, sampleText, b.String())

	f, err := limitsfile.Decode(strings.NewReader(sampleText))
	require.NoError(t, err)
	want := sample
	want.Rows = []limitsfile.Row{sample.Rows[2], sample.Rows[1], sample.Rows[0]}
	require.Equal(t, want, f, "rows sorted")

	b.Reset()
	require.NoError(t, limitsfile.Encode(&b, limitsfile.File{Date: "2026-01-02"}))
	require.Equal(t, `{
  "version": 1,
  "comment": [],
  "source": "",
  "region": "",
  "endpoint": "",
  "date": "2026-01-02",
  "columns": ["instance_type", "max_enis", "ipv4_per_eni", "ipv6_per_eni", "hypervisor", "bare_metal", "vcpus"],
  "types": []
}
`, b.String())
	f, err = limitsfile.Decode(&b)
	require.NoError(t, err)
	require.Equal(t, limitsfile.File{Date: "2026-01-02"}, f)
}

func TestEncodeRefuses(t *testing.T) {
	for name, f := range map[string]limitsfile.File{
		"bad date":  {Date: "2 January 2026"},
		"no date":   {},
		"twice":     {Date: "2026-01-02", Rows: []limitsfile.Row{sample.Rows[0], sample.Rows[0]}},
		"no ENIs":   {Date: "2026-01-02", Rows: []limitsfile.Row{{InstanceType: "a.b", IPv4PerENI: 1}}},
		"no name":   {Date: "2026-01-02", Rows: []limitsfile.Row{{MaxENIs: 1, IPv4PerENI: 1}}},
		"spaces":    {Date: "2026-01-02", Rows: []limitsfile.Row{{InstanceType: "m5 large", MaxENIs: 1, IPv4PerENI: 1}}},
		"no IPv4":   {Date: "2026-01-02", Rows: []limitsfile.Row{{InstanceType: "a.b", MaxENIs: 1}}},
		"IPv6 < 0":  {Date: "2026-01-02", Rows: []limitsfile.Row{{InstanceType: "a.b", MaxENIs: 1, IPv4PerENI: 1, IPv6PerENI: -1}}},
		"vCPUs < 0": {Date: "2026-01-02", Rows: []limitsfile.Row{{InstanceType: "a.b", MaxENIs: 1, IPv4PerENI: 1, VCPUs: -1}}},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.Error(t, limitsfile.Encode(&b, f))
			require.Zero(t, b.Len(), "nothing written")
		})
	}
}

func TestDecodeIsStrict(t *testing.T) {
	for name, edit := range map[string][2]string{
		"unknown field":  {`"version": 1,`, `"version": 1, "extra": 2,`},
		"no version":     {`"version": 1,`, ``},
		"version 2":      {`"version": 1,`, `"version": 2,`},
		"other columns":  {`"vcpus"]`, `"cpus"]`},
		"short row":      {`["m5.large", 3, 10, 10, "nitro", false, 2]`, `["m5.large", 3, 10, 10, "nitro", false]`},
		"null cell":      {`["m5.large", 3, 10, 10, "nitro", false, 2]`, `["m5.large", 3, 10, null, "nitro", false, 2]`},
		"string for int": {`["m5.large", 3, 10, 10, "nitro", false, 2]`, `["m5.large", "3", 10, 10, "nitro", false, 2]`},
		"float":          {`["m5.large", 3, 10, 10, "nitro", false, 2]`, `["m5.large", 3.5, 10, 10, "nitro", false, 2]`},
		"out of order":   {`["m5.large"`, `["z5.large"`},
		"twice":          {`["m5.metal"`, `["m5.large"`},
		"invalid row":    {`["m5.large", 3, 10,`, `["m5.large", 0, 10,`},
		"bad date":       {`"2026-01-02"`, `"2026-13-02"`},
		"trailing data":  {"}\n", "}\n{}"},
		"truncated":      {"]\n}\n", "]\n"},
	} {
		t.Run(name, func(t *testing.T) {
			text := strings.Replace(sampleText, edit[0], edit[1], 1)
			require.NotEqual(t, sampleText, text, "the edit applies")
			_, err := limitsfile.Decode(strings.NewReader(text))
			require.Error(t, err)
		})
	}
}

func TestColumns(t *testing.T) {
	c := limitsfile.Columns()
	require.Equal(t, []string{"instance_type", "max_enis", "ipv4_per_eni", "ipv6_per_eni", "hypervisor", "bare_metal", "vcpus"}, c)
	c[0] = "x"
	require.Equal(t, "instance_type", limitsfile.Columns()[0])
}

// FuzzDecode: whatever Decode accepts, Encode writes and Decode reads back
// as the same File, and that text is a fixed point.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(sampleText))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := limitsfile.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		require.NoError(t, limitsfile.Encode(&b, file))
		again, err := limitsfile.Decode(bytes.NewReader(b.Bytes()))
		require.NoError(t, err)
		require.Equal(t, file, again)
		var c bytes.Buffer
		require.NoError(t, limitsfile.Encode(&c, again))
		require.Equal(t, b.String(), c.String())
	})
}
