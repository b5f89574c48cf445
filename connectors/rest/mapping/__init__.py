"""Field expressions: where a REST connector finds the ledger's values in a JSON answer.

An expression is compiled once per config into a getter, so mapping a record costs a few dict lookups:

* a dotted path ``a.b.0.c``: keys of objects, and list indices where the segment is a number;
* a JSONPath ``$.data[*].name`` (jsonpath-ng's extended syntax, filters included); an expression is taken for
  JSONPath when it starts with ``$`` or holds ``[``, ``*``, ``?`` or ``@``. Cyrillic names need no quoting
  (``$.РасшифровкаПлатежа[0].Сумма``): they are quoted before jsonpath-ng, whose lexer knows only ASCII, sees them;
* ``^.path``: the same, read from the parent record (only with ``explode``);
* ``{path: Date, format: "%Y-%m-%dT%H:%M:%S"}``: a date read with that strptime format;
* ``{path: СуммаДокумента, negate: true}``: the number with the opposite sign, exactly (a credit note that the
  source shows positive);
* ``{path: Parent.Description, map: {Ключевые клиенты: key_accounts}, default: default}``: a value looked up in
  ``map``; a value the map does not list stays as it is, or becomes ``default`` when one is given;
* ``{template: "{^.Ref_Key}/{LineNumber}"}``: text with paths in braces (``{{``/``}}`` for literal braces); a
  path that leads nowhere or to null leaves the whole field out;
* ``{const: RUB}``: the same value for every record;
* ``when: {Сделка_Type: StandardODATA.Document_РеализацияТоваровУслуг}`` on any of the three forms above: the
  value only for records whose fields equal these (as ``where``: a list means one of them), empty otherwise.

A path that leads nowhere gives :data:`~connectors.rest.mapping.paths.MISSING`, and the field is then left out
of the record (:func:`connectors.records.build_ledger` names the required ones). Pure: no I/O.

The modules: :mod:`~connectors.rest.mapping.paths` compiles paths into getters,
:mod:`~connectors.rest.mapping.fields` the other field forms (templates, constants, conditions, conversions), and
:mod:`~connectors.rest.mapping.entity` an entity's whole mapping
(:class:`~connectors.rest.mapping.entity.EntityMapping`).
"""
