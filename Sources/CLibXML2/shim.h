#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

/* xmlFree is a global function pointer, which Swift 6 sees as shared mutable state: call it from here. */
static inline void gather_xml_free(void *pointer) { xmlFree(pointer); }
