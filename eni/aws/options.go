package aws

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/time/rate"
)

// Defaults for Options. See the package documentation for why.
const (
	// DefaultRateLimit is the client-side limiter's refill rate, in calls
	// per second: the smallest refill rate of the EC2 token buckets the
	// calls of this package draw from.
	DefaultRateLimit rate.Limit = 5
	// DefaultBurst is the client-side limiter's bucket size: well under 50,
	// the smallest EC2 bucket the calls of this package draw from.
	DefaultBurst = 20
	// DefaultMaxAttempts is the number of attempts the SDK's standard
	// retryer makes per request, the first one included.
	DefaultMaxAttempts = 3
)

// Options configure a Cloud. The zero value is valid: the default
// credential chain, the region from the environment, the defaults above.
type Options struct {
	// Client is the EC2 client to call. When nil, New builds an *ec2.Client
	// from Config, Region, BaseEndpoint, Credentials and MaxAttempts; when
	// set, it is used as is and those fields must be zero.
	Client EC2API

	// Config is the AWS configuration New builds the client from. When nil,
	// New loads it with config.LoadDefaultConfig: environment, shared
	// files, web identity (IRSA), EKS Pod Identity, instance role.
	Config *aws.Config
	// Region overrides the configuration's region. A region is required,
	// here, in Config, in AWS_REGION or in the shared config.
	Region string
	// BaseEndpoint points the client at another EC2 endpoint, such as the
	// EC2 wire emulator ("http://127.0.0.1:8080"). Empty: the region's.
	BaseEndpoint string
	// Credentials overrides the configuration's credentials, e.g.
	// credentials.NewStaticCredentialsProvider for an emulator.
	Credentials aws.CredentialsProvider
	// MaxAttempts is the number of attempts the SDK's retryer makes per
	// request, the first included (default DefaultMaxAttempts; 1 disables
	// retries). It overrides the configuration's.
	MaxAttempts int

	// RateLimit is the refill rate, in calls per second, of the one
	// client-side token bucket every EC2 request of this Cloud draws from,
	// retries included (default DefaultRateLimit; rate.Inf disables the
	// limiter).
	RateLimit rate.Limit
	// Burst is that bucket's size (default DefaultBurst).
	Burst int

	// Logger receives debug records of EC2 calls. Nil discards.
	Logger *slog.Logger

	// OnRateLimitWait, if set, is told how long each request waited for
	// the client-side limiter (for a metric such as ipam.Metrics'
	// rate-limit wait). It must be safe for concurrent use.
	OnRateLimitWait func(time.Duration)
}

// Validate reports what is wrong with o, all of it at once.
func (o Options) Validate() error {
	var errs []error
	if !(o.RateLimit >= 0) { // also catches NaN
		errs = append(errs, fmt.Errorf("negative RateLimit %v", o.RateLimit))
	}
	if o.Burst < 0 {
		errs = append(errs, fmt.Errorf("negative Burst %d", o.Burst))
	}
	if o.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("negative MaxAttempts %d", o.MaxAttempts))
	}
	if o.BaseEndpoint != "" {
		u, err := url.Parse(o.BaseEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("invalid BaseEndpoint %q: not an absolute http or https URL", o.BaseEndpoint))
		}
	}
	if o.Client != nil {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"Config", o.Config != nil},
			{"Region", o.Region != ""},
			{"BaseEndpoint", o.BaseEndpoint != ""},
			{"Credentials", o.Credentials != nil},
			{"MaxAttempts", o.MaxAttempts != 0},
		} {
			if f.set {
				errs = append(errs, fmt.Errorf("%s configures the client New builds and cannot be set with Client", f.name))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("eni/aws: invalid options: %w", err)
	}
	return nil
}

// withDefaults returns o with every zero field that has a default set to it.
func (o Options) withDefaults() Options {
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Client == nil && o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
