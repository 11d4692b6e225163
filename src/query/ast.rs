//! The typed syntax tree of HopQL.
//!
//! Everything here has already been validated by the parser: field references are
//! [`Field`]s (canonical names from [`super::fields::FIELDS`]), operand types agree, aggregate
//! arguments are numeric, and grouped queries only select grouped fields or aggregates.
//! `Display` (in `print.rs`) prints canonical HopQL that parses back to an equal tree.
//!
//! New statement kinds (`CREATE SPLIT`, `TRAIN`, `EVALUATE`, `SHOW SPLITS`, ...) are added as
//! new [`Statement`] variants; nothing else in the tree depends on the set of statements.

pub use super::fields::Field;
pub use crate::record::HopView;

pub use crate::export::split::SplitExportFormat;

/// One HopQL statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `SELECT ... FROM hops ...`
    Select(Select),
    /// `EXPLAIN SELECT ...`: show the plan for a query instead of running it.
    Explain(Select),
    /// `DESCRIBE hops`: list the queryable fields.
    Describe(Table),
    /// `SHOW STATS`: summary statistics of the store.
    ShowStats,
    /// `CREATE SPLIT name FROM ...`: cut and store a reproducible split.
    CreateSplit(CreateSplit),
    /// `SHOW SPLITS`: every stored split.
    ShowSplits,
    /// `SHOW SPLIT name`: per-group counts and the fingerprint.
    ShowSplit(String),
    /// `DROP SPLIT name`.
    DropSplit(String),
    /// `EXPORT SPLIT name [FORMAT kind [VIEW view]] TO 'path'`: without FORMAT, JSON (or CSV
    /// when the file ends in `.csv`); `alignn` and `extxyz` write a folder.
    ExportSplit {
        /// Split name.
        name: String,
        /// Output path (a file for json/csv, a folder for alignn/extxyz).
        path: String,
        /// FORMAT, when given.
        format: Option<SplitExportFormat>,
        /// VIEW of each hop's structure (alignn only; default initial).
        view: Option<HopView>,
    },
    /// `SCENARIOS OF SPLIT name`: scenario A/B/C of every test hop.
    Scenarios(String),
    /// `TRAIN name AS kind ON SPLIT s [PRETRAINED ON (SELECT ...)] [WITH k = v, ...] [REPLACE]`.
    Train(TrainModel),
    /// `TUNE name AS kind ON SPLIT s [WITH k = (v1, v2), ...] [FOLDS k] [SEED n] [REPLACE]`.
    Tune(TuneModel),
    /// `EVALUATE m ON SPLIT s [BY group|scenario|hop] [THRESHOLD x] [FORCE]`.
    Evaluate(EvaluateModel),
    /// `PREDICT m FOR (SELECT ...) [STRICT]`.
    Predict {
        /// Model name.
        model: String,
        /// The hops to predict.
        query: Box<Select>,
        /// STRICT: refuse a stale model (one whose training hops changed since it was trained).
        strict: bool,
    },
    /// `RETRAIN m`: fit m's settings on the current data as m's next version.
    Retrain(String),
    /// `CROSS VALIDATE kind ON SPLIT s [WITH k = v, ...]` over the folds of a k-fold split.
    CrossValidate {
        /// Model kind.
        kind: ModelKind,
        /// A k-fold split.
        split: String,
        /// Hyperparameters.
        params: Vec<ModelParam>,
    },
    /// `SHOW MODELS`.
    ShowModels,
    /// `DESCRIBE MODEL m`: parameters, metrics, training log, feature importances.
    DescribeModel(String),
    /// `DROP MODEL m` (and its predictions).
    DropModel(String),
    /// `SHOW PREDICTIONS OF m [WHERE expr] [LIMIT n [OFFSET k]]`: stored predictions, the
    /// condition evaluated on the predicted hops.
    ShowPredictions {
        /// Model name.
        model: String,
        /// Condition on the hops.
        filter: Option<Expr>,
        /// LIMIT.
        limit: Option<Limit>,
    },
    /// `EXPORT PREDICTIONS OF m TO 'file'` (CSV, or JSON when the file ends in `.json`).
    ExportPredictions {
        /// Model name.
        model: String,
        /// Output path.
        path: String,
    },
}

/// A model kind as written: `random_forest`, `boosted_trees`, `mean`, `gnn(band)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelKind {
    /// Kind name.
    pub name: String,
    /// Variant in parentheses, if any.
    pub variant: Option<String>,
}

/// One value of a `WITH` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamAtom {
    /// A number, as written.
    Num(String),
    /// A quoted string.
    Str(String),
    /// A bare word (`log1p`, `sqrt`).
    Word(String),
}

/// `key = value` or `key = (v1, v2, ...)` (a list is a search axis in `TUNE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelParam {
    /// Parameter name (lower case).
    pub key: String,
    /// Its values (one unless written as a list).
    pub values: Vec<ParamAtom>,
    /// Written as a parenthesised list.
    pub list: bool,
}

impl ParamAtom {
    /// The value as text (strings unquoted).
    pub fn text(&self) -> &str {
        match self {
            ParamAtom::Num(s) | ParamAtom::Str(s) | ParamAtom::Word(s) => s,
        }
    }
}

/// Parameters as the string map the model layer parses (lists joined with commas).
pub fn param_map(params: &[ModelParam]) -> std::collections::BTreeMap<String, String> {
    params.iter().map(|p| (p.key.clone(), p.values.iter().map(ParamAtom::text).collect::<Vec<_>>().join(","))).collect()
}

/// `TRAIN`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainModel {
    /// Name to save the model under.
    pub name: String,
    /// Kind.
    pub kind: ModelKind,
    /// Split whose train partition is fitted.
    pub split: String,
    /// Pre-training hops (graph networks).
    pub pretrained_on: Option<Box<Select>>,
    /// Hyperparameters.
    pub params: Vec<ModelParam>,
    /// Replace a model of the same name.
    pub replace: bool,
}

/// `TUNE`.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneModel {
    /// Name to save the best model under.
    pub name: String,
    /// Kind.
    pub kind: ModelKind,
    /// Split whose train partition is searched.
    pub split: String,
    /// Grid: lists are axes, single values fixed.
    pub params: Vec<ModelParam>,
    /// FOLDS.
    pub folds: Option<u64>,
    /// SEED of the fold assignment.
    pub seed: Option<u64>,
    /// Replace a model of the same name.
    pub replace: bool,
}

/// What `EVALUATE ... BY` breaks the errors down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalBy {
    /// Structural group.
    Group,
    /// Scenario A/B/C/none.
    Scenario,
    /// Every test hop.
    Hop,
}

/// `EVALUATE`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateModel {
    /// Model name.
    pub model: String,
    /// Split name.
    pub split: String,
    /// Breakdown (None: the summary).
    pub by: Option<EvalBy>,
    /// THRESHOLD (eV).
    pub threshold: Option<f64>,
    /// FORCE: evaluate even if the split's training set differs from the model's.
    pub force: bool,
    /// STRICT: refuse a stale model (one whose training hops changed since it was trained).
    pub strict: bool,
}

/// Where a split's hops come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitSource {
    /// The train/test partition recorded at import.
    Partition,
    /// The hops a query selects.
    Query(Box<Select>),
    /// Explicit id lists: `IDS ('a', ...) TEST ('b', ...)`.
    Ids {
        /// Training ids.
        train: Vec<String>,
        /// Test ids.
        test: Vec<String>,
    },
    /// Nested learning-curve subsets of another split's training partition:
    /// `SPLIT base LEARNING CURVE 100, 200, ALL` (`None` is ALL).
    LearningCurve {
        /// The split whose train partition is subsampled (its test partition is kept).
        base: String,
        /// Subset sizes.
        sizes: Vec<Option<u64>>,
    },
}

/// The algorithm of `CREATE SPLIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitMethod {
    /// Stratified test set; `by_class` stratifies by the published class label instead of the
    /// normalised group.
    Stratified {
        /// Stratify by class label (true) or normalised group (false).
        by_class: bool,
    },
    /// Uniform random test set.
    Random,
    /// k folds; `grouped` keeps the hops of one host structure in one fold.
    KFold {
        /// Number of folds.
        k: u64,
        /// Group by host structure.
        grouped: bool,
    },
    /// One partition pair per structural group.
    LeaveOneGroupOut,
}

impl CreateSplit {
    /// The source as HopQL text (recorded as the split's query).
    pub fn source_text(&self) -> String {
        let mut c = self.clone();
        c.method = None;
        c.test = None;
        c.seed = None;
        c.min_group = None;
        c.one_hop = None;
        c.validation = None;
        let full = Statement::CreateSplit(c).to_string();
        full.split_once(" FROM ").map(|(_, s)| s.to_string()).unwrap_or(full)
    }
}

/// `CREATE SPLIT` and its options (percentages are stored as fractions).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSplit {
    /// Split name.
    pub name: String,
    /// Source of the hops.
    pub source: SplitSource,
    /// Algorithm (default: stratified by group for a query source).
    pub method: Option<SplitMethod>,
    /// TEST fraction.
    pub test: Option<f64>,
    /// SEED.
    pub seed: Option<u64>,
    /// MIN_GROUP: groups below this share get no test hop.
    pub min_group: Option<f64>,
    /// ONE_HOP: groups below this share (and above MIN_GROUP) get exactly one test hop.
    pub one_hop: Option<f64>,
    /// VALIDATION: fraction of train carved out (grouped by host) for early stopping.
    pub validation: Option<f64>,
}

/// A table that statements can name. Today there is only `hops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// The table of migration barriers.
    Hops,
}

impl Table {
    /// Every table, for suggestions and listings.
    pub const ALL: &'static [Table] = &[Table::Hops];

    /// The table's name as written in queries.
    pub fn name(self) -> &'static str {
        match self {
            Table::Hops => "hops",
        }
    }

    /// The table called `name` (case-insensitive).
    pub fn lookup(name: &str) -> Option<Table> {
        Table::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }
}

/// A `SELECT` query.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// The select list, in output-column order (never empty).
    pub items: Vec<SelectItem>,
    /// The table after `FROM`.
    pub from: Table,
    /// The `WHERE` condition.
    pub filter: Option<Expr>,
    /// `GROUP BY` fields (empty when not grouped).
    pub group_by: Vec<Field>,
    /// `ORDER BY` keys, most significant first.
    pub order_by: Vec<OrderBy>,
    /// `LIMIT n [OFFSET m]`.
    pub limit: Option<Limit>,
    /// `AS OF version | 'time'`: answer from the store as it was then (None: as it is).
    pub as_of: Option<crate::store::AsOf>,
}

impl Statement {
    /// Answer a `SELECT` (or `EXPLAIN SELECT`) as of an earlier state of the store (its
    /// `AS OF`, replacing any); an error naming the statement for any other statement.
    pub fn set_as_of(&mut self, as_of: crate::store::AsOf) -> Result<(), String> {
        match self {
            Statement::Select(sel) | Statement::Explain(sel) => {
                sel.as_of = Some(as_of);
                Ok(())
            }
            other => Err(format!("as_of applies to SELECT and EXPLAIN SELECT, not to: {other}")),
        }
    }

    /// Make `EVALUATE` and `PREDICT` refuse a stale model (their `STRICT` option); other
    /// statements are unchanged.
    pub fn set_strict(&mut self) {
        match self {
            Statement::Evaluate(e) => e.strict = true,
            Statement::Predict { strict, .. } => *strict = true,
            _ => {}
        }
    }
}

impl Select {
    /// `SELECT * FROM hops` with no clauses.
    pub fn star() -> Select {
        Select {
            items: vec![SelectItem::Star],
            from: Table::Hops,
            filter: None,
            group_by: Vec::new(),
            order_by: Vec::new(),
            limit: None,
            as_of: None,
        }
    }

    /// True when the query produces one row per group: it has `GROUP BY`, or aggregates in
    /// the select list or in `ORDER BY`.
    pub fn is_aggregate(&self) -> bool {
        !self.group_by.is_empty()
            || self
                .items
                .iter()
                .any(|i| matches!(i, SelectItem::Aggregate { .. }))
            || self
                .order_by
                .iter()
                .any(|o| matches!(o.key, OrderKey::Aggregate(_)))
    }

    /// The select item whose alias is `alias` (case-insensitive) and its 0-based position.
    pub fn item_by_alias(&self, alias: &str) -> Option<(usize, &SelectItem)> {
        self.items
            .iter()
            .enumerate()
            .find(|(_, it)| it.alias().is_some_and(|a| a.eq_ignore_ascii_case(alias)))
    }
}

/// One entry of the select list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`: every field in [`super::fields::FIELDS`] order (not allowed in grouped queries).
    Star,
    /// A field, optionally renamed.
    Field {
        /// The field.
        field: Field,
        /// `AS alias`.
        alias: Option<String>,
    },
    /// An aggregate, optionally renamed.
    Aggregate {
        /// The aggregate.
        agg: Aggregate,
        /// `AS alias`.
        alias: Option<String>,
    },
}

impl SelectItem {
    /// The alias, if one was given.
    pub fn alias(&self) -> Option<&str> {
        match self {
            SelectItem::Star => None,
            SelectItem::Field { alias, .. } | SelectItem::Aggregate { alias, .. } => {
                alias.as_deref()
            }
        }
    }

    /// The output column header: the alias if given, else the field name or the canonical
    /// aggregate text (`AVG(em)`); `*` for the star.
    pub fn column_name(&self) -> String {
        match self {
            SelectItem::Star => "*".to_string(),
            SelectItem::Field { field, alias } => {
                alias.clone().unwrap_or_else(|| field.name().to_string())
            }
            SelectItem::Aggregate { agg, alias } => {
                alias.clone().unwrap_or_else(|| agg.to_string())
            }
        }
    }
}

/// An aggregate function applied over the rows of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregate {
    /// The function.
    pub func: AggFunc,
    /// The argument; `None` means `*` (only for `COUNT(*)`). Any other function has a
    /// numeric (`Num` or `Int`) field.
    pub arg: Option<Field>,
}

/// Aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `COUNT(*)` counts rows; `COUNT(field)` counts rows where the field is not null.
    Count,
    /// Arithmetic mean.
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Sum.
    Sum,
    /// Standard deviation.
    Stddev,
    /// Median.
    Median,
}

impl AggFunc {
    /// Every aggregate function.
    pub const ALL: &'static [AggFunc] = &[
        AggFunc::Count,
        AggFunc::Avg,
        AggFunc::Min,
        AggFunc::Max,
        AggFunc::Sum,
        AggFunc::Stddev,
        AggFunc::Median,
    ];

    /// Canonical upper-case name, e.g. `"AVG"`.
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "COUNT",
            AggFunc::Avg => "AVG",
            AggFunc::Min => "MIN",
            AggFunc::Max => "MAX",
            AggFunc::Sum => "SUM",
            AggFunc::Stddev => "STDDEV",
            AggFunc::Median => "MEDIAN",
        }
    }

    /// The function called `name` (case-insensitive).
    pub fn lookup(name: &str) -> Option<AggFunc> {
        AggFunc::ALL
            .iter()
            .copied()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

/// One `ORDER BY` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderBy {
    /// What to sort on.
    pub key: OrderKey,
    /// `DESC` (ascending otherwise).
    pub descending: bool,
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderKey {
    /// A field (in a grouped query, one of the `GROUP BY` fields).
    Field(Field),
    /// An aggregate (the query is then grouped).
    Aggregate(Aggregate),
    /// The alias of a select item, spelled as in the select list.
    Alias(String),
    /// A 1-based output column number.
    Column(usize),
}

/// `LIMIT count OFFSET offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    /// Maximum number of rows returned.
    pub count: u64,
    /// Rows skipped first (0 when no `OFFSET` was given).
    pub offset: u64,
}

/// A boolean condition (the `WHERE` clause).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `left op right`. Operand types agree (numbers with numbers, strings with strings,
    /// booleans with booleans, the last only with `=`/`!=`); list fields never appear.
    Compare {
        /// Left operand.
        left: Operand,
        /// Operator.
        op: CompareOp,
        /// Right operand.
        right: Operand,
    },
    /// `field [NOT] BETWEEN low AND high` (inclusive), on a numeric or string field.
    Between {
        /// The field tested.
        field: Field,
        /// `NOT BETWEEN`.
        negated: bool,
        /// Lower bound.
        low: Literal,
        /// Upper bound.
        high: Literal,
    },
    /// `field [NOT] IN (v1, v2, ...)` (at least one value, each of the field's type).
    In {
        /// The field tested.
        field: Field,
        /// `NOT IN`.
        negated: bool,
        /// The values.
        values: Vec<Literal>,
    },
    /// `field [NOT] LIKE 'pattern'` on a `Str` field; `%` matches any run of characters,
    /// `_` exactly one (see [`like_match`]).
    Like {
        /// The field tested.
        field: Field,
        /// `NOT LIKE`.
        negated: bool,
        /// The pattern.
        pattern: String,
    },
    /// `field IS [NOT] NULL`.
    IsNull {
        /// The field tested.
        field: Field,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// OPTIMADE-style list predicate on a `StrList` field: `elements HAS [ALL|ANY|ONLY] 'Li', ...`.
    /// With [`HasMode::One`] there is exactly one value. For `elements`, every value is a
    /// valid element symbol.
    Has {
        /// The list field.
        field: Field,
        /// How the values combine.
        mode: HasMode,
        /// The values (at least one).
        values: Vec<String>,
    },
    /// OPTIMADE list length: `field LENGTH [op] n` on a list field; an empty or missing
    /// list has length 0 (never unknown).
    Length {
        /// The list field.
        field: Field,
        /// How the length compares with `length` (`=` when none is written).
        op: CompareOp,
        /// The length compared with.
        length: u64,
    },
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// Negation.
    Not(Box<Expr>),
}

impl Expr {
    /// `a AND b`.
    pub fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    /// `a OR b`.
    pub fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    /// `NOT a`. (An associated function rather than `std::ops::Not`, to keep the AST plain.)
    #[allow(clippy::should_implement_trait)]
    pub fn not(a: Expr) -> Expr {
        Expr::Not(Box::new(a))
    }

    /// `field op literal`.
    pub fn compare(field: Field, op: CompareOp, lit: Literal) -> Expr {
        Expr::Compare {
            left: Operand::Field(field),
            op,
            right: Operand::Literal(lit),
        }
    }

    /// Every field the expression refers to, in order of appearance (with repeats).
    pub fn fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields(&self, out: &mut Vec<Field>) {
        match self {
            Expr::Compare { left, right, .. } => {
                for o in [left, right] {
                    if let Operand::Field(f) = o {
                        out.push(*f);
                    }
                }
            }
            Expr::Between { field, .. }
            | Expr::In { field, .. }
            | Expr::Like { field, .. }
            | Expr::IsNull { field, .. }
            | Expr::Has { field, .. }
            | Expr::Length { field, .. } => out.push(*field),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_fields(out);
                b.collect_fields(out);
            }
            Expr::Not(a) => a.collect_fields(out),
        }
    }

    /// The conjuncts of a chain of `AND`s (the expression itself when it is not an `AND`).
    pub fn conjuncts(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::And(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                other => out.push(other),
            }
        }
        out
    }
}

/// A comparison operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A field's value in the current row.
    Field(Field),
    /// A constant.
    Literal(Literal),
}

/// A constant. There is no NULL literal in the tree: `x = NULL` is rejected by the parser in
/// favour of `x IS NULL`.
#[derive(Debug, Clone)]
pub enum Literal {
    /// A finite number (integers are exact up to 2^53).
    Num(f64),
    /// A string (already unescaped).
    Str(String),
    /// `TRUE` / `FALSE`.
    Bool(bool),
}

impl PartialEq for Literal {
    /// Numbers compare by value, except that NaN equals NaN (so equality is reflexive);
    /// `0.0 == -0.0` as usual.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Literal::Num(a), Literal::Num(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Literal::Str(a), Literal::Str(b)) => a == b,
            (Literal::Bool(a), Literal::Bool(b)) => a == b,
            _ => false,
        }
    }
}

impl Literal {
    /// The literal's type as a field type (`Num`, `Str` or `Bool`).
    pub fn ty(&self) -> super::fields::FieldType {
        use super::fields::FieldType;
        match self {
            Literal::Num(_) => FieldType::Num,
            Literal::Str(_) => FieldType::Str,
            Literal::Bool(_) => FieldType::Bool,
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=` (also written `<>`)
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// Every operator.
    pub const ALL: &'static [CompareOp] = &[
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
    ];

    /// Canonical symbol, e.g. `"<="`.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// The operator written `sym` (`<>` is `Ne`).
    pub fn from_symbol(sym: &str) -> Option<CompareOp> {
        Some(match sym {
            "=" => CompareOp::Eq,
            "!=" | "<>" => CompareOp::Ne,
            "<" => CompareOp::Lt,
            "<=" => CompareOp::Le,
            ">" => CompareOp::Gt,
            ">=" => CompareOp::Ge,
            _ => return None,
        })
    }

    /// True for the ordering operators `<`, `<=`, `>`, `>=`.
    pub fn is_ordering(self) -> bool {
        !matches!(self, CompareOp::Eq | CompareOp::Ne)
    }

    /// Whether `ord` (left compared with right) satisfies the operator.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CompareOp::Eq => ord == Equal,
            CompareOp::Ne => ord != Equal,
            CompareOp::Lt => ord == Less,
            CompareOp::Le => ord != Greater,
            CompareOp::Gt => ord == Greater,
            CompareOp::Ge => ord != Less,
        }
    }
}

/// How the values of a `HAS` predicate combine (OPTIMADE semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HasMode {
    /// `HAS 'x'`: the list contains the single value.
    One,
    /// `HAS ALL 'x', 'y'`: the list contains every value.
    All,
    /// `HAS ANY 'x', 'y'`: the list contains at least one value.
    Any,
    /// `HAS ONLY 'x', 'y'`: every list entry is one of the values.
    Only,
}

/// SQL `LIKE` matching: `%` matches any (possibly empty) run of characters, `_` exactly one
/// character, everything else itself (case-sensitive, no escape character).
pub fn like_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Greedy matching with backtracking to the last `%`: O(|p| * |t|) worst case.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like() {
        assert!(like_match("Li%", "LiCoO2"));
        assert!(like_match("%O2", "LiCoO2"));
        assert!(like_match("%Co%", "LiCoO2"));
        assert!(like_match("L_CoO2", "LiCoO2"));
        assert!(!like_match("L_CoO2", "LCoO2"));
        assert!(like_match("%", ""));
        assert!(!like_match("_", ""));
        assert!(like_match("a%b%c", "aXXbYYc"));
        assert!(!like_match("a%b%c", "aXXbYY"));
        assert!(!like_match("li%", "LiCoO2"));
    }

    #[test]
    fn literal_eq() {
        assert_eq!(Literal::Num(f64::NAN), Literal::Num(f64::NAN));
        assert_eq!(Literal::Num(0.0), Literal::Num(-0.0));
        assert_ne!(Literal::Num(1.0), Literal::Str("1".into()));
    }

    #[test]
    fn conjuncts_flatten() {
        let em = Field::lookup("em").unwrap();
        let a = Expr::compare(em, CompareOp::Lt, Literal::Num(1.0));
        let b = Expr::compare(em, CompareOp::Gt, Literal::Num(0.0));
        let c = Expr::IsNull {
            field: em,
            negated: true,
        };
        let e = Expr::and(Expr::and(a.clone(), b.clone()), c.clone());
        assert_eq!(e.conjuncts(), vec![&a, &b, &c]);
        assert_eq!(e.fields(), vec![em, em, em]);
    }
}
