// Package ecr moves tags in Amazon ECR through ECR's own API, the way the
// seed's scripts do with `aws ecr batch-get-image` and `aws ecr put-image`,
// with the checks those scripts leave out:
//
//   - The manifest is fetched by digest (BatchGetImage with imageDigest,
//     never imageTag), with every current manifest media type accepted so
//     ECR returns the stored bytes, and its sha256 is checked against the
//     digest before anything is written.
//   - PutImage sends the same bytes with their media type, the tag and the
//     digest, so ECR refuses a manifest that is not the promoted build.
//   - ImageAlreadyExistsException (the tag already points at that manifest)
//     is success once the tag has been read back.
//   - ImageTagAlreadyExistsException (the repository keeps the tag from
//     moving) becomes a *TagMutabilityError naming the repository's
//     setting, its exclusion filters and the `aws ecr
//     put-image-tag-mutability` command that lets the tag move; it matches
//     *registry.TagImmutableError with errors.As.
//   - After PutImage the tag is read back (DescribeImages) and must resolve
//     to the digest; otherwise the result is a *registry.MismatchError, so
//     a promotion that raced another says it was superseded.
//   - PutImage calls are spaced by a token bucket shared by every Retagger
//     of the same registry and region in the process (ECR's default
//     PutImage quota is 10 calls per second per account and Region), and
//     every call retries ThrottlingException with the SDK's adaptive retry
//     mode, which also slows itself down while AWS throttles.
//
// A Retagger plugs into registry.Client through registry.Options.Retagger,
// so promotions, rollbacks and releases on an ECR registry take this path
// while other registries keep the OCI manifest copy.
package ecr
