package httpapi

import (
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/radmark/radmark"
)

// The OpenAPI 3.1 document is built from the route table and the Go types
// the handlers read and write, by reflection over their JSON encoding:
// writing it by hand beside the code would let the two drift, and the
// libraries that generate schemas from Go types do not know the
// encoding rules used here (omitempty is optional, nil slices are null).

// enums gives the allowed values of named string types.
var enums = map[reflect.Type][]string{}

func init() {
	kinds := make([]string, len(radmark.Kinds))
	for i, k := range radmark.Kinds {
		kinds[i] = string(k)
	}
	enums[reflect.TypeFor[radmark.Kind]()] = kinds
	enums[reflect.TypeFor[radmark.QuestionType]()] = []string{"single", "multiple", "number", "text"}
	enums[reflect.TypeFor[radmark.QuestionLevel]()] = []string{"study", "series", "image", "annotation"}
}

type schemaGen struct {
	components map[string]any
	names      map[reflect.Type]string
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
)

// schema returns the JSON Schema (2020-12, as OpenAPI 3.1 uses) of t's
// JSON encoding; named structs become components referenced by $ref.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawMessageType:
		return map[string]any{}
	case t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && t.Implements(textMarshalerType):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		s := map[string]any{"type": "string"}
		if e, ok := enums[t]; ok {
			s["enum"] = e
		}
		return s
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = t.Name()
			for other, taken := range g.names {
				if taken == name && other != t {
					pkg := t.PkgPath()
					pkg = pkg[strings.LastIndex(pkg, "/")+1:]
					name = strings.ToUpper(pkg[:1]) + pkg[1:] + name
					break
				}
			}
			g.names[t] = name
			g.components[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// nullable lets a schema also match null, as a nil slice, map or pointer
// without omitempty encodes.
func nullable(s map[string]any) map[string]any {
	if ref, ok := s["$ref"]; ok {
		return map[string]any{"anyOf": []any{map[string]any{"$ref": ref}, map[string]any{"type": "null"}}}
	}
	if typ, ok := s["type"].(string); ok {
		out := map[string]any{}
		for k, v := range s {
			out[k] = v
		}
		out["type"] = []any{typ, "null"}
		return out
	}
	return s
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			omit := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
			s := g.schema(f.Type)
			if !omit {
				switch f.Type.Kind() {
				case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
					if f.Type != rawMessageType {
						s = nullable(s)
					}
				}
				required = append(required, name)
			}
			props[name] = s
		}
	}
	walk(t)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}

var pathParam = regexp.MustCompile(`\{([a-zA-Z]+)(\.\.\.)?\}`)

// openAPIDocument builds the OpenAPI 3.1 document of routes.
func openAPIDocument(routes []apiRoute, version string) map[string]any {
	g := &schemaGen{components: map[string]any{}, names: map[reflect.Type]string{}}
	problem := g.schema(reflect.TypeFor[Problem]())
	paths := map[string]any{}
	for _, rt := range routes {
		p := apiRoot + rt.Path
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "required": q.Required, "description": q.Description, "schema": map[string]any{"type": q.Type}})
		}
		for _, h := range rt.Headers {
			params = append(params, map[string]any{"name": h.Name, "in": "header", "required": h.Required, "description": h.Description, "schema": map[string]any{"type": h.Type}})
		}
		op := map[string]any{"operationId": rt.ID, "summary": rt.Summary, "tags": []string{rt.Tag}}
		if len(params) > 0 {
			op["parameters"] = params
		}
		switch {
		case rt.Body != nil:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Body))},
			}}
		case rt.RawBody != "":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				rt.RawBody: map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": rt.RawBody}},
			}}
		}
		ok := map[string]any{"description": http.StatusText(rt.OK)}
		switch {
		case rt.RawType != "":
			ok["content"] = map[string]any{rt.RawType: map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": rt.RawType}}}
		case rt.Response != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Response))}}
		}
		if len(rt.RespHeaders) > 0 {
			hs := map[string]any{}
			for _, h := range rt.RespHeaders {
				hs[h] = map[string]any{"schema": map[string]any{"type": "string"}}
			}
			ok["headers"] = hs
		}
		responses := map[string]any{strconv.Itoa(rt.OK): ok}
		for _, st := range append([]int{400, 500}, rt.Errors...) {
			responses[strconv.Itoa(st)] = map[string]any{
				"description": http.StatusText(st),
				"content":     map[string]any{"application/problem+json": map[string]any{"schema": problem}},
			}
		}
		op["responses"] = responses
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "radmark API",
			"version":     version,
			"description": "Projects, label schemas, annotation sets and their revisions, measurements and the audit trail. Errors are RFC 9457 problem details with a stable code.",
		},
		"servers":    []any{map[string]any{"url": "/"}},
		"paths":      paths,
		"components": map[string]any{"schemas": g.components},
	}
}
