"""Drop repeated <script> tags from every page.

sphinx-thebe's inline configuration script is added twice by the Jupyter
Book 1 stack, and the second copy fails in the browser ("Identifier
'THEBE_JS_URL' has already been declared"); MathJax is also included
twice (by Sphinx and by MyST-NB). Keeping the first script of each file
name, and the first of each inline body, is harmless for all others.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""
        body = getattr(script, "attributes", {}).get("body", "")
        key = (str(filename), body)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
