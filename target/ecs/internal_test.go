package ecs

import (
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// readOnly are the fields of a task definition that ECS sets and
// RegisterTaskDefinition does not take.
var readOnly = map[string]bool{
	"Compatibilities": true, "DeleteRequestedAt": true, "DeregisteredAt": true, "RegisteredAt": true, "RegisteredBy": true,
	"RequiresAttributes": true, "Revision": true, "Status": true, "TaskDefinitionArn": true,
}

// TestRegisterInputCopiesEveryField fails when the SDK grows a field that
// pin mode would drop when it registers a copy of a task definition.
func TestRegisterInputCopiesEveryField(t *testing.T) {
	tdType := reflect.TypeFor[types.TaskDefinition]()
	inType := reflect.TypeFor[ecs.RegisterTaskDefinitionInput]()
	var td types.TaskDefinition
	tv := reflect.ValueOf(&td).Elem()
	for f := range tdType.Fields() {
		if !f.IsExported() || readOnly[f.Name] {
			continue
		}
		in, ok := inType.FieldByName(f.Name)
		if !ok {
			t.Errorf("TaskDefinition.%s is not in RegisterTaskDefinitionInput: is it read-only? add it to readOnly", f.Name)
			continue
		}
		if in.Type != f.Type {
			t.Errorf("TaskDefinition.%s is a %s, RegisterTaskDefinitionInput.%s a %s", f.Name, f.Type, f.Name, in.Type)
			continue
		}
		tv.FieldByIndex(f.Index).Set(nonZero(t, f.Type))
	}
	for f := range inType.Fields() {
		if !f.IsExported() || f.Name == "Tags" {
			continue
		}
		if _, ok := tdType.FieldByName(f.Name); !ok {
			t.Errorf("RegisterTaskDefinitionInput.%s has no TaskDefinition field to copy from", f.Name)
		}
	}
	tags := []types.Tag{{}}
	got := reflect.ValueOf(registerInput(&td, tags)).Elem()
	for f := range inType.Fields() {
		if !f.IsExported() {
			continue
		}
		if got.FieldByIndex(f.Index).IsZero() {
			t.Errorf("registerInput leaves %s unset: copy it", f.Name)
		}
	}
}

func nonZero(t *testing.T, typ reflect.Type) reflect.Value {
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(typ.Elem()))
	case reflect.Slice:
		v.Set(reflect.MakeSlice(typ, 1, 1))
	case reflect.Map:
		v.Set(reflect.MakeMap(typ))
		v.SetMapIndex(reflect.New(typ.Key()).Elem(), reflect.New(typ.Elem()).Elem())
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	default:
		t.Fatalf("nonZero: add a case for %s", typ)
	}
	return v
}

func TestRegisterInputCopiesContainerDefinitions(t *testing.T) {
	image := "api:1"
	td := &types.TaskDefinition{ContainerDefinitions: []types.ContainerDefinition{{Image: &image}}}
	in := registerInput(td, nil)
	other := "api:2"
	in.ContainerDefinitions[0].Image = &other
	if *td.ContainerDefinitions[0].Image != "api:1" {
		t.Errorf("changing the copy changed the task definition's image to %s", *td.ContainerDefinitions[0].Image)
	}
	if in.Tags != nil {
		t.Errorf("registerInput(td, nil).Tags = %v, want nil (RegisterTaskDefinition refuses an empty list)", in.Tags)
	}
}

func TestPick(t *testing.T) {
	defs := func(images ...string) []types.ContainerDefinition {
		var out []types.ContainerDefinition
		for i := 0; i < len(images); i += 2 {
			out = append(out, types.ContainerDefinition{Name: &images[i], Image: &images[i+1]})
		}
		return out
	}
	const repo = "012345678922.dkr.ecr.us-east-1.amazonaws.com/api"
	tests := []struct {
		name      string
		defs      []types.ContainerDefinition
		container string
		want      []int
		wantErr   bool
	}{
		{"by repository", defs("log", "fluent/fluent-bit:3", "app", repo+":dev"), "", []int{1}, false},
		{"by repository, pinned", defs("app", repo+":prod-20240101T000000Z@sha256:"+hex64), "", []int{0}, false},
		{"by name", defs("app", repo+":dev", "log", "fluent/fluent-bit:3"), "app", []int{0}, false},
		{"by name of two using the repository", defs("app", repo+":dev", "worker", repo+":dev"), "worker", []int{1}, false},
		{"named container uses another repository", defs("app", "other:1", "log", repo+":dev"), "app", nil, true},
		{"named container missing", defs("app", repo+":dev"), "web", nil, true},
		{"no container uses the repository", defs("app", "012345678922.dkr.ecr.us-east-1.amazonaws.com/other:dev"), "", nil, true},
		{"two containers use the repository", defs("a", repo+":dev", "log", "fluent/fluent-bit:3", "b", repo+":staging"), "", []int{0, 2}, false},
		{"same path on another host", defs("app", "ghcr.io/acme/api:dev", "x", "012345678922.dkr.ecr.us-east-1.amazonaws.com/acme/api:dev"), "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pick("dev", "arn:aws:ecs:us-east-1:111111111111:task-definition/api:3", tt.defs, tt.container, repo)
			if (err != nil) != tt.wantErr || err == nil && !slices.Equal(got, tt.want) {
				t.Errorf("pick(%s) = %d, %v; want %d, error %v", tt.name, got, err, tt.want, tt.wantErr)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestInRepository(t *testing.T) {
	repo := "012345678922.dkr.ecr.us-east-1.amazonaws.com/api"
	for img, want := range map[string]bool{
		repo + ":dev":               true,
		repo + "@sha256:abc":        true,
		repo + ":dev@sha256:abc":    true,
		repo:                        true,
		repo + "-worker:dev":        false,
		"docker.io/library/nginx:1": false,
	} {
		if got := inRepository(img, repo); got != want {
			t.Errorf("inRepository(%q) = %v, want %v", img, got, want)
		}
	}
}
