// Package ecr moves tags in Amazon ECR through ECR's own API, the way the
// seed's scripts do with `aws ecr batch-get-image` and `aws ecr put-image`,
// with the checks those scripts leave out:
//
//   - The manifest is fetched by digest (BatchGetImage with imageDigest,
//     never imageTag), accepting exactly the media type DescribeImages
//     gives for the image, so ECR returns the stored bytes; its sha256 is
//     checked against the digest before anything is written. A manifest
//     list or an image index has no value in acceptedMediaTypes (the API
//     reference lists the Docker schema 1 and 2 and the OCI image
//     manifests): when BatchGetImage answers InvalidParameterException the
//     manifest is read by digest through the registry API instead, with an
//     ECR authorization token (GetAuthorizationToken).
//   - PutImage sends the same bytes with their media type, the tag and the
//     digest, so ECR refuses a manifest that is not the promoted build.
//   - ImageAlreadyExistsException (the tag already points at that manifest)
//     is success once the tag has been read back.
//   - ImageTagAlreadyExistsException (the repository keeps the tag) is
//     followed by a read of the tag. If it already points at the digest
//     (ECR refuses a kept tag even with the digest it has) the retag is
//     done. Otherwise the error is a *TagExistsError naming the image the
//     tag points at: for a release tag, another build took it first; for a
//     tier tag, it wraps a *TagMutabilityError naming the repository's
//     setting, its exclusion filters and the `aws ecr
//     put-image-tag-mutability` command that lets the tag move (it matches
//     *registry.TagImmutableError with errors.As).
//   - After PutImage the tag is read back (DescribeImages) and must resolve
//     to the digest. A read that does not show the write yet is tried
//     again, with growing waits, a bounded number of times
//     (Options.ReadBackAttempts); after that the result is a
//     *registry.MismatchError, so a promotion that raced another says it
//     was superseded.
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
