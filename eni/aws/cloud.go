package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/eniway/eniway/eni"
)

// EC2API lists the methods of *ec2.Client this package calls, so that tests
// and users can wrap or replace the client (Options.Client). It mirrors the
// SDK client rather than being split into smaller interfaces: a wrapper
// implements all of it anyway. Implementations must be safe for concurrent
// use, as *ec2.Client is.
//
// Every call passes option functions, one of which adds the middleware that
// charges the SDK's retries to the rate limiter (see the package
// documentation): an implementation wrapping an *ec2.Client should pass the
// options on; one that is not an SDK client may ignore them.
type EC2API interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
	DescribeNetworkInterfaces(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeRouteTables(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	CreateNetworkInterface(context.Context, *ec2.CreateNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.CreateNetworkInterfaceOutput, error)
	AttachNetworkInterface(context.Context, *ec2.AttachNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.AttachNetworkInterfaceOutput, error)
	DetachNetworkInterface(context.Context, *ec2.DetachNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.DetachNetworkInterfaceOutput, error)
	DeleteNetworkInterface(context.Context, *ec2.DeleteNetworkInterfaceInput, ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error)
	ModifyNetworkInterfaceAttribute(context.Context, *ec2.ModifyNetworkInterfaceAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyNetworkInterfaceAttributeOutput, error)
	AssignPrivateIpAddresses(context.Context, *ec2.AssignPrivateIpAddressesInput, ...func(*ec2.Options)) (*ec2.AssignPrivateIpAddressesOutput, error)
	UnassignPrivateIpAddresses(context.Context, *ec2.UnassignPrivateIpAddressesInput, ...func(*ec2.Options)) (*ec2.UnassignPrivateIpAddressesOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

var (
	_ EC2API    = (*ec2.Client)(nil)
	_ eni.Cloud = (*Cloud)(nil)
)

// IAMActions returns the IAM actions this package calls, sorted: exactly
// the methods of EC2API, prefixed with "ec2:".
func IAMActions() []string {
	return []string{
		"ec2:AssignPrivateIpAddresses",
		"ec2:AttachNetworkInterface",
		"ec2:CreateNetworkInterface",
		"ec2:CreateTags",
		"ec2:DeleteNetworkInterface",
		"ec2:DescribeInstanceTypes",
		"ec2:DescribeInstances",
		"ec2:DescribeNetworkInterfaces",
		"ec2:DescribeRouteTables",
		"ec2:DescribeSecurityGroups",
		"ec2:DescribeSubnets",
		"ec2:DetachNetworkInterface",
		"ec2:ModifyNetworkInterfaceAttribute",
		"ec2:UnassignPrivateIpAddresses",
	}
}

// Cloud implements eni.Cloud with the AWS SDK for Go v2. Create it with New;
// it is safe for concurrent use, and every call draws from its one
// client-side rate limiter.
type Cloud struct {
	client  EC2API
	limiter *rate.Limiter
	log     *slog.Logger
	onWait  func(time.Duration)
}

// New returns a Cloud configured by o. ctx bounds the loading of the AWS
// configuration only; it is not kept.
func New(ctx context.Context, o Options) (*Cloud, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	client := o.Client
	if client == nil {
		c, err := newClient(ctx, o)
		if err != nil {
			return nil, err
		}
		client = c
	}
	return &Cloud{client: client, limiter: rate.NewLimiter(o.RateLimit, o.Burst), log: o.Logger, onWait: o.OnRateLimitWait}, nil
}

// newClient builds the SDK client from defaulted options.
func newClient(ctx context.Context, o Options) (*ec2.Client, error) {
	var cfg aws.Config
	if o.Config != nil {
		cfg = o.Config.Copy()
		if o.Region != "" {
			cfg.Region = o.Region
		}
		if o.Credentials != nil {
			cfg.Credentials = o.Credentials
		}
	} else {
		var opts []func(*config.LoadOptions) error
		if o.Region != "" {
			opts = append(opts, config.WithRegion(o.Region))
		}
		if o.Credentials != nil {
			opts = append(opts, config.WithCredentialsProvider(o.Credentials))
		}
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("eni/aws: load AWS configuration: %w", err)
		}
	}
	if cfg.Region == "" {
		return nil, errors.New("eni/aws: no AWS region: set Options.Region, AWS_REGION or a region in the shared config")
	}
	return ec2.NewFromConfig(cfg, func(eo *ec2.Options) {
		if o.BaseEndpoint != "" {
			eo.BaseEndpoint = aws.String(o.BaseEndpoint)
		}
		eo.RetryMaxAttempts = o.MaxAttempts
	}), nil
}

// do makes one EC2 request, through send, after a token from the limiter.
// send must pass its option on to the client: it charges the SDK's retries
// to the limiter too. Errors come back converted (see convertError).
func (c *Cloud) do(ctx context.Context, action string, send func(context.Context, func(*ec2.Options)) error) error {
	start := time.Now()
	if err := c.wait(ctx); err != nil {
		return fmt.Errorf("eni/aws: %s: %w", action, err)
	}
	waited := time.Since(start)
	attempts := 0
	err := send(ctx, c.limitRetries(action, &attempts))
	if c.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.String("action", action),
			slog.Duration("limiter_wait", waited),
			slog.Duration("duration", time.Since(start)-waited),
			slog.Int("attempts", attempts),
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
			var rid interface{ ServiceRequestID() string }
			if errors.As(err, &rid) {
				attrs = append(attrs, slog.String("request_id", rid.ServiceRequestID()))
			}
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "ec2 call", attrs...)
	}
	if err != nil {
		return convertError(action, err)
	}
	return nil
}

// send makes one EC2 request with c.do.
func send[I, O any](ctx context.Context, c *Cloud, action string, op func(context.Context, *I, ...func(*ec2.Options)) (*O, error), in *I) (*O, error) {
	var out *O
	err := c.do(ctx, action, func(ctx context.Context, opt func(*ec2.Options)) (err error) {
		out, err = op(ctx, in, opt)
		return err
	})
	if err == nil && out == nil {
		return nil, fmt.Errorf("eni/aws: %s: no output: %w", action, ErrMalformedResponse)
	}
	return out, err
}

// pager is an SDK paginator.
type pager[O any] interface {
	HasMorePages() bool
	NextPage(context.Context, ...func(*ec2.Options)) (*O, error)
}

// eachPage calls page for every page p returns, each request made with c.do.
func eachPage[O any](ctx context.Context, c *Cloud, action string, p pager[O], page func(*O)) error {
	for p.HasMorePages() {
		var out *O
		err := c.do(ctx, action, func(ctx context.Context, opt func(*ec2.Options)) (err error) {
			out, err = p.NextPage(ctx, opt)
			return err
		})
		if err != nil {
			return err
		}
		if out == nil {
			return fmt.Errorf("eni/aws: %s: no output: %w", action, ErrMalformedResponse)
		}
		page(out)
	}
	return nil
}

// wait takes a token from the limiter. It fails at once, with an error
// wrapping context.DeadlineExceeded, when the token would come after ctx's
// deadline.
func (c *Cloud) wait(ctx context.Context) error {
	start := time.Now()
	err := c.limiter.Wait(ctx)
	if c.onWait != nil {
		c.onWait(time.Since(start))
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("client rate limiter: %w", ctx.Err())
	default:
		// rate.Limiter.Wait refuses to wait past the deadline without
		// saying so with a sentinel.
		return fmt.Errorf("client rate limiter: next token after the deadline: %w", context.DeadlineExceeded)
	}
}

// retryLimiterID names the middleware limitRetries adds.
const retryLimiterID = "eniway.RetryRateLimit"

// limitRetries returns the option that makes the SDK take a token from the
// limiter before every attempt after the first (do takes the first one
// before calling the client, so that clients that are not the SDK's are
// limited too). attempts counts the attempts the SDK made.
func (c *Cloud) limitRetries(action string, attempts *int) func(*ec2.Options) {
	mw := middleware.FinalizeMiddlewareFunc(retryLimiterID, func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		*attempts++
		if *attempts > 1 {
			c.log.LogAttrs(ctx, slog.LevelDebug, "ec2 retry", slog.String("action", action), slog.Int("attempt", *attempts))
			if err := c.wait(ctx); err != nil {
				// A canceled request, which the retryer does not retry.
				return middleware.FinalizeOutput{}, middleware.Metadata{}, &aws.RequestCanceledError{Err: err}
			}
		}
		return next.HandleFinalize(ctx, in)
	})
	return func(o *ec2.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			// Inside the retry loop: once per attempt.
			if _, ok := s.Finalize.Get("Retry"); ok {
				return s.Finalize.Insert(mw, "Retry", middleware.After)
			}
			return s.Finalize.Add(mw, middleware.Before)
		})
	}
}

// convertError turns a failure EC2 reported into an *eni.APIError (which
// wraps the eni sentinel for its code) and wraps any other error.
func convertError(action string, err error) error {
	if apiErr, ok := errors.AsType[smithy.APIError](err); ok {
		return eni.NewAPIError(action, apiErr.ErrorCode(), "%s", apiErr.ErrorMessage())
	}
	return fmt.Errorf("eni/aws: %s: %w", action, err)
}

// invalid returns the error for an argument refused before any request.
func invalid(action, format string, args ...any) error {
	return fmt.Errorf("eni/aws: %s: %s: %w", action, fmt.Sprintf(format, args...), eni.ErrInvalidParameter)
}
