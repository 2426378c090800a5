package ecr

import (
	"context"
	"fmt"
	"sync"

	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// ECR's default PutImage quota is 10 calls per second per account and
// Region (adjustable in Service Quotas). A promotion of many services, or
// several promotions at once in one process, stay under it by default.
const (
	DefaultPutImageRate  = 10 // calls per second
	DefaultPutImageBurst = 10
)

// Limiter spaces calls: Wait returns when the next one may go, or when ctx
// ends. *rate.Limiter implements it.
type Limiter interface {
	Wait(ctx context.Context) error
}

var (
	limitersMu sync.Mutex
	limiters   = map[string]*rate.Limiter{}
)

// sharedLimiter returns the process's PutImage limiter for a registry and
// region, creating it with perSecond and burst (defaults when zero).
func sharedLimiter(registryID, region string, perSecond float64, burst int) *rate.Limiter {
	if perSecond <= 0 {
		perSecond = DefaultPutImageRate
	}
	if burst <= 0 {
		burst = DefaultPutImageBurst
	}
	key := registryID + "/" + region
	limitersMu.Lock()
	defer limitersMu.Unlock()
	l := limiters[key]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(perSecond), burst)
		limiters[key] = l
	}
	return l
}

// limitAttempts makes every attempt of one call, retries included, wait for
// the limiter: the limiter sits right after the SDK's retry middleware.
func (r *Retagger) limitAttempts(o *awsecr.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("tierPutImageRateLimit",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if err := r.limiter.Wait(ctx); err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("waiting for the PutImage rate limit of %s: %w", r.host, err)
				}
				return next.HandleFinalize(ctx, in)
			}), "Retry", middleware.After)
	})
}
