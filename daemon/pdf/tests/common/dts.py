# Validates the document timestamps of a PDF with pyHanko's API (its CLI validates only regular
# signatures). Prints one line per timestamp: "<field> intact=<bool> valid=<bool> trusted=<bool>".
import sys

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext

path, root_path = sys.argv[1], sys.argv[2]
with open(root_path, "rb") as f:
    _, _, der = pem.unarmor(f.read())
vc = ValidationContext(trust_roots=[x509.Certificate.load(der)], revocation_mode="soft-fail", allow_fetching=False)
with open(path, "rb") as f:
    r = PdfFileReader(f)
    for ts in r.embedded_timestamp_signatures:
        st = validate_pdf_timestamp(ts, validation_context=vc)
        print(f"{ts.field_name} intact={st.intact} valid={st.valid} trusted={st.trusted}")
