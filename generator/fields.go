package generator

import (
	"fmt"
	"strings"
)

// Field types a resource may have.
const (
	TypeString = "string" // required text, at most 255 characters
	TypeText   = "text"   // optional text, at most 65535 characters
	TypeInt    = "int"    // optional whole number (int64), 0 when absent
	TypeBool   = "bool"   // optional true or false, false when absent
	TypeTime   = "time"   // required time, RFC 3339
)

// FieldTypes lists the field types in the order the help shows them.
var FieldTypes = []string{TypeString, TypeText, TypeInt, TypeBool, TypeTime}

// typeHints maps names people often write to the type they mean.
var typeHints = map[string]string{
	"str": TypeString, "varchar": TypeString, "char": TypeString,
	"longtext": TypeText, "textarea": TypeText,
	"integer": TypeInt, "int64": TypeInt, "int32": TypeInt, "number": TypeInt, "float": TypeInt,
	"boolean": TypeBool, "date": TypeTime, "datetime": TypeTime, "timestamp": TypeTime,
}

// reservedFields are columns every resource has.
var reservedFields = map[string]bool{"id": true, "created_at": true, "updated_at": true}

// Field is one field of a resource: a snake-case name and a type.
type Field struct {
	// Name is snake case: the column; its JSON name is lowerCamel case.
	Name string
	// Type is one of FieldTypes.
	Type string
}

// String returns the field as the command line writes it: name:type.
func (f Field) String() string { return f.Name + ":" + f.Type }

// ParseField parses one name:type argument, e.g. "published_at:time".
// The name is snake case (see CheckName), not id, created_at or
// updated_at; the type is one of FieldTypes.
func ParseField(s string) (Field, error) {
	name, typ, ok := strings.Cut(s, ":")
	if !ok {
		return Field{}, invalid("field %q: write name:type, e.g. %s:string (types: %s)", s, suggestIdent(s), strings.Join(FieldTypes, ", "))
	}
	if name == "" {
		return Field{}, invalid("field %q has no name: write name:type, e.g. title:%s", s, typ)
	}
	if !identPattern.MatchString(name) || len(name) > 64 {
		return Field{}, invalid("field %q: the name must be snake case (lowercase letters and digits, words joined by single underscores, starting with a letter, at most 64 characters), e.g. %s:%s", s, suggestIdent(name), typ)
	}
	if reservedFields[name] {
		return Field{}, invalid("field %q: every resource already has id, created_at and updated_at", s)
	}
	switch typ {
	case TypeString, TypeText, TypeInt, TypeBool, TypeTime:
		return Field{Name: name, Type: typ}, nil
	case "":
		return Field{}, invalid("field %q has no type; use one of %s", s, strings.Join(FieldTypes, ", "))
	}
	if hint, ok := typeHints[strings.ToLower(typ)]; ok {
		return Field{}, invalid("field %q: unknown type %q; did you mean %s:%s? (types: %s)", s, typ, name, hint, strings.Join(FieldTypes, ", "))
	}
	return Field{}, invalid("field %q: unknown type %q; use one of %s", s, typ, strings.Join(FieldTypes, ", "))
}

// ParseFields parses the name:type arguments of a resource. It needs at
// least one field and refuses two fields with one name, or with names
// that give one Go or JSON name.
func ParseFields(args []string) ([]Field, error) {
	if len(args) == 0 {
		return nil, invalid("a resource needs at least one field, e.g. title:string body:text (types: %s)", strings.Join(FieldTypes, ", "))
	}
	fields := make([]Field, 0, len(args))
	goNames := map[string]string{"ID": "id", "CreatedAt": "created_at", "UpdatedAt": "updated_at"}
	jsonNames := map[string]string{"id": "id", "createdAt": "created_at", "updatedAt": "updated_at"}
	for _, a := range args {
		f, err := ParseField(a)
		if err != nil {
			return nil, err
		}
		if other, dup := goNames[goName(f.Name)]; dup {
			if other == f.Name {
				return nil, invalid("field %q is given twice", f.Name)
			}
			return nil, invalid("fields %q and %q would both be %s in Go; rename one", other, f.Name, goName(f.Name))
		}
		if other, dup := jsonNames[lowerCamel(f.Name)]; dup {
			return nil, invalid("fields %q and %q would both be %q in JSON; rename one", other, f.Name, lowerCamel(f.Name))
		}
		goNames[goName(f.Name)] = f.Name
		jsonNames[lowerCamel(f.Name)] = f.Name
		fields = append(fields, f)
	}
	return fields, nil
}

// fieldData is a field as the resource templates use it.
type fieldData struct {
	Field
	// Go is the struct field name, JSON its JSON name, Column its quoted
	// SQL column.
	Go, JSON, Column string
	// GoType and SQLType are the field's types in Go and in SQLite.
	GoType, SQLType string
	// Reader is the fields method that reads it from a request body.
	Reader string
	// ScanDest is what row.Scan stores the column into.
	ScanDest string
	// Arg is the SQL argument that stores the value of "in".
	Arg string
}

func newFieldData(f Field) fieldData {
	d := fieldData{Field: f, Go: goName(f.Name), JSON: lowerCamel(f.Name), Column: `"` + f.Name + `"`}
	d.ScanDest = "&item." + d.Go
	d.Arg = "in." + d.Go
	switch f.Type {
	case TypeString:
		d.GoType, d.SQLType, d.Reader = "string", "TEXT", "String"
	case TypeText:
		d.GoType, d.SQLType, d.Reader = "string", "TEXT", "Text"
	case TypeInt:
		d.GoType, d.SQLType, d.Reader = "int64", "INTEGER", "Int"
	case TypeBool:
		d.GoType, d.SQLType, d.Reader = "bool", "INTEGER", "Bool"
	case TypeTime:
		d.GoType, d.SQLType, d.Reader = "time.Time", "TEXT", "Time"
		d.ScanDest = "timeColumn{&item." + d.Go + "}"
		d.Arg = "formatTime(in." + d.Go + ")"
	}
	return d
}

// Required reports whether a request must give the field.
func (d fieldData) Required() bool { return d.Type == TypeString || d.Type == TypeTime }

// sample returns the JSON value tests send for the field: n is 1 for the
// create request and 2 for the update.
func (d fieldData) sample(n int) string {
	switch d.Type {
	case TypeInt:
		return fmt.Sprint(41 + n)
	case TypeBool:
		return fmt.Sprint(n == 1)
	case TypeTime:
		return fmt.Sprintf(`"2026-0%d-0%dT1%d:04:05Z"`, n, n+1, n+4)
	}
	return fmt.Sprintf(`"%s %s"`, d.JSON, [...]string{"", "one", "two"}[n])
}

// wrong returns a JSON value of the wrong type for the field.
func (d fieldData) wrong() string {
	if d.Type == TypeString || d.Type == TypeText {
		return "5"
	}
	return `"five"`
}

// Assert returns the test statement that checks the field of variable v
// holds sample n.
func (d fieldData) Assert(v string, n int) string {
	got := v + "." + d.Go
	switch d.Type {
	case TypeTime:
		return fmt.Sprintf("is.True(%s.Equal(testTime(t, %s))) // %s", got, d.sample(n), d.Name)
	case TypeInt:
		return fmt.Sprintf("is.Equal(%s, int64(%s))", got, d.sample(n))
	}
	return fmt.Sprintf("is.Equal(%s, %s)", got, d.sample(n))
}
