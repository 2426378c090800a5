package registry

import "errors"

// ErrTagExists is wrapped by a Retagger's error when the registry refused
// to point an existing tag elsewhere: an immutable tag (an ECR repository
// with IMMUTABLE, or IMMUTABLE_WITH_EXCLUSION and the tag not excluded).
// Promotions take it to mean a racing release cut the tag first.
var ErrTagExists = errors.New("the tag exists and the registry does not let it move")
