package aws_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/time/rate"

	"github.com/eniway/eniway/eni"
	eniaws "github.com/eniway/eniway/eni/aws"
)

// In production: the default credential chain (IRSA on EKS), the region
// from AWS_REGION, the default rate limit and retries.
func ExampleNew() {
	ctx := context.Background()
	cloud, err := eniaws.New(ctx, eniaws.Options{})
	if err != nil {
		log.Fatal(err)
	}
	limits, err := cloud.DescribeInstanceTypes(ctx, "m5.large")
	if errors.Is(err, eni.ErrThrottled) {
		log.Print("EC2 throttled us even after retries; try later")
	}
	_ = limits
}

// Against another endpoint, such as the EC2 wire emulator: BaseEndpoint and
// static credentials. Here an httptest.Server stands in for it.
func ExampleNew_baseEndpoint() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <instanceTypeSet><item>
    <instanceType>m5.4xlarge</instanceType><hypervisor>nitro</hypervisor>
    <vCpuInfo><defaultVCpus>16</defaultVCpus></vCpuInfo>
    <networkInfo><maximumNetworkInterfaces>8</maximumNetworkInterfaces><ipv4AddressesPerInterface>30</ipv4AddressesPerInterface></networkInfo>
  </item></instanceTypeSet>
</DescribeInstanceTypesResponse>`)
	}))
	defer srv.Close()

	ctx := context.Background()
	cloud, err := eniaws.New(ctx, eniaws.Options{
		Region:       "us-east-1",
		BaseEndpoint: srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RateLimit:    rate.Inf,
	})
	if err != nil {
		log.Fatal(err)
	}
	limits, err := cloud.DescribeInstanceTypes(ctx, "m5.4xlarge")
	if err != nil {
		log.Fatal(err)
	}
	l := limits[0]
	fmt.Printf("%s: %d ENIs x %d IPv4, prefix delegation %t, %d /28s per ENI\n",
		l.InstanceType, l.MaxENIs, l.IPv4PerENI, l.PrefixDelegation(), l.MaxSecondaryIPv4())
	// Output: m5.4xlarge: 8 ENIs x 30 IPv4, prefix delegation true, 29 /28s per ENI
}
