; Highlights for .inoc specs (nvim-treesitter / helix / zed capture names).

["import" "as" "let" "fn" "in"] @keyword
(declaration_kind) @keyword.type

(boolean) @boolean
(none) @constant.builtin
(number) @number
(string) @string
(raw_string) @string
(comment) @comment
(doc_comment) @comment.documentation

(import alias: (identifier) @module)
(let name: (identifier) @constant)
(function name: (identifier) @function)
(declaration name: (identifier) @variable)
(parameter name: (identifier) @variable.parameter)
(type (identifier) @type)
(binding variable: (identifier) @variable.parameter)
(named_argument name: (identifier) @variable.parameter)
(record_field name: (identifier) @property)

(call function: (identifier) @function.call)
(call function: (field_access field: (identifier) @function.call))
(field_access object: (identifier) @module)
(field_access field: (identifier) @property)

["|" ".." "..=" "+" "-" "*" "/" "="] @operator
["(" ")" "[" "]" "{" "}"] @punctuation.bracket
["," "." ":"] @punctuation.delimiter
