package aws_test

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/eniway/eniway/eni"
	eniaws "github.com/eniway/eniway/eni/aws"
	"github.com/eniway/eniway/eni/enitest"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/eni/fake/wire"
)

// TestConformance runs the eni conformance suite against this backend
// through the real AWS SDK, pointed at the EC2 wire emulator serving the
// suite's fake world: serialization, pagination, and error mapping are
// exercised for real.
func TestConformance(t *testing.T) {
	enitest.Run(t, func(t *testing.T, world *fake.Cloud) eni.Cloud {
		srv := httptest.NewServer(wire.NewHandler(world, nil))
		t.Cleanup(srv.Close)
		c, err := eniaws.New(t.Context(), eniaws.Options{
			Region:       "us-east-1",
			BaseEndpoint: srv.URL,
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
			RateLimit:    rate.Inf,
		})
		require.NoError(t, err)
		return c
	})
}
