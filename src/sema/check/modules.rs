//! Loading modules: parsing a file, its scope of names, `fn` signatures and
//! type annotations, and the imports it names (cycles and missing files).

use super::*;

impl Checker<'_> {
    /// Parses a source text as a module and registers it; returns its index.
    pub fn add_module(&mut self, path: &str, text: String, prefix: String) -> Option<usize> {
        let file = self.sources.add(path, text);
        let (ast, diags) = crate::syntax::parse(file, self.sources.text(file));
        self.diags.extend(diags);
        let ast = ast?;
        let idx = self.modules.len();
        self.modules.push(Module {
            path: path.to_string(),
            file,
            ast: Rc::new(ast),
            scope: Scope::default(),
            imports: BTreeMap::new(),
            prefix,
        });
        self.by_path.insert(path.to_string(), idx);
        self.build_scope(idx);
        Some(idx)
    }

    pub(super) fn build_scope(&mut self, m: usize) {
        let ast = self.modules[m].ast.clone();
        let mut scope = Scope::default();
        scope.reserve(ast.items.len());
        for (i, item) in ast.items.iter().enumerate() {
            let name = item.name();
            if let Some(&first) = scope.get(&name.name) {
                let first_span = ast.items[first].name().span;
                let d = Diagnostic::error("E0104", format!("`{}` is defined more than once", name.name), name.span, "defined again here")
                    .with_label(first_span, "first defined here")
                    .with_help("rename one of them; lets, functions, declarations and import aliases share one namespace");
                self.diags.push(d);
            } else {
                scope.insert(name.name.clone(), i);
            }
            if let ItemKind::Fn(f) = &item.kind {
                self.check_fn_def(f);
            }
        }
        self.modules[m].scope = scope;
    }

    pub(super) fn check_fn_def(&mut self, f: &ast::FnDef) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut defaulted = false;
        for p in &f.params {
            if let Some(first) = seen.get(p.name.name.as_str()) {
                let d = Diagnostic::error(
                    "E0130",
                    format!("parameter `{}` is declared twice", p.name.name),
                    p.name.span,
                    "declared again here",
                )
                .with_label(*first, "first declared here")
                .with_help("give each parameter of a function its own name");
                self.diags.push(d);
            }
            seen.insert(&p.name.name, p.name.span);
            if p.default.is_some() {
                defaulted = true;
            } else if defaulted {
                self.err(
                    "E0130",
                    format!(
                        "parameter `{}` has no default but follows one that has",
                        p.name.name
                    ),
                    p.span,
                    "needs a default",
                    Some("put parameters with defaults after those without".into()),
                );
            }
            if let Some(t) = &p.ty {
                self.type_of_annotation(t);
            }
        }
    }

    /// Resolves a type annotation (reporting unknown names).
    pub(super) fn type_of_annotation(&mut self, t: &ast::TypeExpr) -> Ty {
        let simple = match t.name.name.as_str() {
            "any" => Some(Ty::Any),
            "none" => Some(Ty::None),
            "bool" => Some(Ty::Bool),
            "int" => Some(Ty::Int),
            "float" => Some(Ty::Float),
            "str" => Some(Ty::Str),
            "path" => Some(Ty::Path),
            "model" => Some(Ty::Model),
            "dataset" => Some(Ty::Dataset),
            "transform" => Some(Ty::Transform),
            "method" => Some(Ty::Method),
            "sampling" => Some(Ty::Sampling),
            "metric" => Some(Ty::Metric),
            "judge" => Some(Ty::Judge),
            "eval" => Some(Ty::Eval),
            "report" => Some(Ty::Report),
            "arch" => Some(Ty::Arch),
            "tokenizer" => Some(Ty::Tokenizer),
            "record" => Some(Ty::Record),
            _ => None,
        };
        const NAMES: &[&str] = &[
            "any",
            "none",
            "bool",
            "int",
            "float",
            "str",
            "path",
            "model",
            "dataset",
            "transform",
            "method",
            "sampling",
            "metric",
            "judge",
            "eval",
            "report",
            "arch",
            "tokenizer",
            "record",
            "list",
        ];
        match (simple, t.name.name.as_str(), t.args.len()) {
            (Some(ty), _, 0) => ty,
            (None, "list", 1) => Ty::list(self.type_of_annotation(&t.args[0])),
            (None, "list", n) => {
                self.err(
                    "E0130",
                    format!("`list` takes one type argument, found {n}"),
                    t.span,
                    "write `list[T]`",
                    Some("for example `list[str]`".into()),
                );
                Ty::Any
            }
            (Some(_), name, _) => {
                self.err(
                    "E0130",
                    format!("type `{name}` takes no type arguments"),
                    t.span,
                    "remove the brackets",
                    None,
                );
                Ty::Any
            }
            (None, name, _) => {
                let help = suggest(name, NAMES.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("types are: {}", NAMES.join(", ")));
                self.err(
                    "E0130",
                    format!("unknown type `{name}`"),
                    t.name.span,
                    "not a type",
                    Some(help),
                );
                Ty::Any
            }
        }
    }

    /// Loads every import of module `m`, recursively. `stack` holds the
    /// paths being loaded (import cycle detection).
    pub fn load_imports(&mut self, m: usize, stack: &mut Vec<String>) {
        let ast = self.modules[m].ast.clone();
        let from = self.modules[m].path.clone();
        stack.push(from.clone());
        for (i, item) in ast.items.iter().enumerate() {
            let ItemKind::Import(imp) = &item.kind else {
                continue;
            };
            let path = resolve(&from, &imp.path);
            if stack.contains(&path) {
                let chain = stack
                    .iter()
                    .chain(std::iter::once(&path))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" -> ");
                self.err(
                    "E0101",
                    format!("import cycle: {chain}"),
                    imp.path_span,
                    "this import closes the cycle",
                    Some("move what both files need into a third file that neither imports".into()),
                );
                continue;
            }
            if let Some(&idx) = self.by_path.get(&path) {
                self.modules[m].imports.insert(i, idx);
                continue;
            }
            if !path.ends_with(".inoc") {
                // Never parse (and quote in an error) a file that is not a
                // spec: `import "/etc/passwd"` must not print its lines.
                self.err(
                    "E0100",
                    format!("cannot import \"{}\"", imp.path),
                    imp.path_span,
                    "not an `.inoc` file",
                    Some(
                        "only `.inoc` modules can be imported; data files are read by `jsonl(...)` and the other data builtins".into(),
                    ),
                );
                continue;
            }
            match self.loader.read(&path) {
                Ok(text) => {
                    let prefix = format!("{}.", imp.alias.name);
                    if let Some(idx) = self.add_module(&path, text, prefix) {
                        self.modules[m].imports.insert(i, idx);
                        self.load_imports(idx, stack);
                    }
                }
                Err(e) => {
                    let (label, help) = match e {
                        LoadError::NotFound if imp.path.starts_with("stdlib/") => (
                            "no such stdlib module".to_string(),
                            format!(
                                "the stdlib has: {}",
                                STDLIB
                                    .iter()
                                    .map(|(p, _)| format!("\"{p}\""))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                        LoadError::NotFound => (
                            format!("resolved to `{path}`, which does not exist"),
                            format!("import paths are relative to the importing file ({from})"),
                        ),
                        LoadError::Other(msg) => (format!("cannot read `{path}`"), msg),
                    };
                    let help = match suggest(&imp.path, STDLIB.iter().map(|(p, _)| *p)) {
                        Some(s) => format!("did you mean \"{s}\"?"),
                        None => help,
                    };
                    self.err(
                        "E0100",
                        format!("cannot import \"{}\"", imp.path),
                        imp.path_span,
                        label,
                        Some(help),
                    );
                }
            }
        }
        stack.pop();
    }
}
