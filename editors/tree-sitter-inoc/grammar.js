/**
 * Tree-sitter grammar for `.inoc` experiment specs.
 *
 * It follows grammar/inoc.pest (the language's one grammar, which inoc itself
 * parses with); this file is for editors (highlighting, folding, text
 * objects) and is checked against every spec and stdlib module by
 * editors/tree-sitter-inoc/check.sh: no ERROR node on any of them.
 *
 * Whitespace and newlines are insignificant: every item starts with a
 * keyword. Operator precedence as in src/syntax/parser.rs:
 * postfix > unary minus > * / > + - > range > pipe.
 */

const PREC = {
  pipe: 1,
  range: 2,
  add: 3,
  mul: 4,
  neg: 5,
  postfix: 6,
};

const commaSep = (rule) => optional(seq(rule, repeat(seq(',', rule)), optional(',')));

module.exports = grammar({
  name: 'inoc',

  extras: ($) => [/[\s\uFEFF]/, $.doc_comment, $.comment],

  word: ($) => $.identifier,

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) => choice($.import, $.let, $.function, $.declaration),

    import: ($) => seq('import', field('path', $.string), 'as', field('alias', $.identifier)),

    let: ($) => seq('let', field('name', $.identifier), '=', field('value', $._expression)),

    function: ($) =>
      seq('fn', field('name', $.identifier), field('parameters', $.parameters), '=', field('body', $._expression)),

    declaration: ($) =>
      seq(
        field('kind', $.declaration_kind),
        field('name', $.identifier),
        optional(field('sweep', $.sweep)),
        '=',
        field('value', $._expression),
      ),

    declaration_kind: (_) => choice('model', 'dataset', 'train', 'eval', 'report'),

    parameters: ($) => seq('(', commaSep($.parameter), ')'),
    parameter: ($) =>
      seq(
        field('name', $.identifier),
        optional(seq(':', field('type', $.type))),
        optional(seq('=', field('default', $._expression))),
      ),
    type: ($) => seq($.identifier, optional(seq('[', commaSep($.type), ']'))),

    sweep: ($) => seq('[', commaSep($.binding), ']'),
    binding: ($) => seq(field('variable', $.identifier), 'in', field('values', $._expression)),

    _expression: ($) =>
      choice(
        $.identifier,
        $.number,
        $.string,
        $.raw_string,
        $.boolean,
        $.none,
        $.list,
        $.record,
        $.parenthesized,
        $.unary,
        $.binary,
        $.call,
        $.field_access,
        $.index,
      ),

    binary: ($) =>
      choice(
        prec.left(PREC.pipe, seq(field('left', $._expression), field('operator', '|'), field('right', $._expression))),
        prec.left(
          PREC.range,
          seq(field('left', $._expression), field('operator', choice('..', '..=')), field('right', $._expression)),
        ),
        prec.left(
          PREC.add,
          seq(field('left', $._expression), field('operator', choice('+', '-')), field('right', $._expression)),
        ),
        prec.left(
          PREC.mul,
          seq(field('left', $._expression), field('operator', choice('*', '/')), field('right', $._expression)),
        ),
      ),

    unary: ($) => prec(PREC.neg, seq('-', field('operand', $._expression))),

    call: ($) => prec(PREC.postfix, seq(field('function', $._expression), field('arguments', $.arguments))),
    arguments: ($) => seq('(', commaSep($._argument), ')'),
    _argument: ($) => choice($.named_argument, $._expression),
    named_argument: ($) => seq(field('name', $.identifier), '=', field('value', $._expression)),

    field_access: ($) => prec(PREC.postfix, seq(field('object', $._expression), '.', field('field', $.identifier))),

    index: ($) => prec(PREC.postfix, seq(field('object', $._expression), field('indices', $.indices))),
    indices: ($) => seq('[', commaSep($._argument), ']'),

    list: ($) => seq('[', commaSep($._expression), ']'),
    record: ($) => seq('{', commaSep($.record_field), '}'),
    record_field: ($) => seq(field('name', choice($.identifier, $.string)), '=', field('value', $._expression)),
    parenthesized: ($) => seq('(', $._expression, ')'),

    boolean: (_) => choice('true', 'false'),
    none: (_) => 'none',

    identifier: (_) => /[A-Za-z_][A-Za-z0-9_]*/,

    // Lexed broadly like the pest grammar; inoc itself says what is wrong with `1__0` or `1e`.
    number: (_) => token(seq(/[0-9]/, repeat(choice(/[eE][+-]/, /[A-Za-z0-9_]/, /\.[0-9]/)))),

    // One token, so that a `#` inside a string is never taken for a comment.
    string: (_) => token(seq('"', repeat(choice(/[^"\\\n]/, /\\./)), '"')),

    raw_string: (_) => token(seq('"""', repeat(choice(/[^"]/, /"[^"]/, /""[^"]/)), '"""')),

    doc_comment: (_) => token(prec(2, seq('##', /[^\n]*/))),
    comment: (_) => token(prec(1, seq('#', /[^\n]*/))),
  },
});
