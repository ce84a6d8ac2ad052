"""Customer pages: sign-up, the claim form, the case list and the live case page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from claims import wording
from claims.models import ApiToken, Case, Photo
from claims.services import Upload, case_submit, photo_add, photo_retry
from claims.submissions import submission_key_clean, submit_once
from claims.uploads import ACCEPTED_DESCRIPTION
from common.access import is_staff_role, require_customer_filing
from common.errors import ApplicationError
from common.http import AuthenticatedHttpRequest, HtmxHttpRequest
from inference.models import Finding
from portal import customer_report, selectors
from portal.api.authentication import BearerTokenAuthentication
from portal.api.tokens import api_token_create, api_token_revoke, api_tokens_active
from portal.forms import CaseForm, SignupForm
from portal.reports import case_report_pdf
from portal.services import photo_annotated
from review.models import Contest
from review.services import contest_create


def _uploads(files: list[UploadedFile]) -> list[Upload]:
    return [Upload(name=f.name or "photo", stream=f, size=f.size) for f in files]


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Named because django-axes adds a second backend, which only refuses lockouts.
        login(request, user, backend="common.auth.RoleModelBackend")
        return redirect("portal:case_list")
    return render(request, "registration/signup.html", {"form": form})


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """django-axes' answer to a locked-out login (AXES_LOCKOUT_CALLABLE): when to retry."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = -(-seconds // 60)
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


CASE_LIST_PAGE_SIZE = 50


@login_required
def case_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = selectors.case_list_page(
        user=request.user, number=request.GET.get("page"), size=CASE_LIST_PAGE_SIZE
    )
    return render(request, "portal/case_list.html", {"cases": page.object_list, "page": page})


@login_required
@require_http_methods(["GET", "POST"])
def case_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_customer_filing(request.user)
    form = CaseForm(request.POST or None)
    photo_errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sent = submit_once(
                user=request.user,
                key=submission_key_clean(request.POST.get("submission_key")),
                model=Case,
                create=lambda: case_submit(
                    customer=request.user,
                    uploads=_uploads(request.FILES.getlist("photos")),
                    **data,
                ),
            )
        except ApplicationError as exc:
            photo_errors = exc.errors.get("photos", [])
            for field, errs in exc.errors.items():
                if field != "photos" and field in form.fields:
                    for err in errs:
                        form.add_error(field, err)
            messages.error(request, exc.message)
        else:
            case = sent.value
            if sent.again:
                messages.info(
                    request,
                    f"You sent this claim already: it is claim {case.reference}, below. "
                    "Nothing was filed twice.",
                )
            else:
                messages.success(
                    request, f"Claim {case.reference} filed. We are looking at your photos."
                )
            return redirect("portal:case_detail", public_id=case.public_id)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "portal/case_form.html",
        {
            "form": form,
            "photo_errors": photo_errors,
            "max_photos": settings.CLAIMS_MAX_PHOTOS,
            "max_photo_mb": settings.CLAIMS_MAX_PHOTO_BYTES // (1024 * 1024),
            "max_photo_bytes": settings.CLAIMS_MAX_PHOTO_BYTES,
            "accepted": ACCEPTED_DESCRIPTION,
        },
        status=status,
    )


def _case_context(request: AuthenticatedHttpRequest, public_id: Any) -> dict[str, Any]:
    case = selectors.case_get(user=request.user, public_id=public_id)
    photos = selectors.case_photos(case=case)
    staff = is_staff_role(request.user)
    if staff:
        selectors.photos_with_run_errors(photos=photos)
    return {
        "case": case,
        "photos": photos,
        "report": customer_report.case_customer_report(case=case, photos=photos),
        "per_photo_note": wording.PER_PHOTO_NOTE,
        "audit": selectors.case_audit(case=case) if staff else [],
        "live_push": settings.CLAIMS_LIVE_PUSH,
        "counts": {
            "done": sum(p.is_final for p in photos),
            "total": len(photos),
        },
        "accepted": ACCEPTED_DESCRIPTION,
        "max_photo_bytes": settings.CLAIMS_MAX_PHOTO_BYTES,
    }


@login_required
def case_detail(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    context = _case_context(request, public_id)
    template = "portal/_case_body.html" if request.htmx else "portal/case_detail.html"
    return render(request, template, context)


def _token_user(request: HttpRequest) -> User | None:
    """The session user, or the API client's user when it sends its token."""
    if request.user.is_authenticated:
        return request.user
    for scheme in (BearerTokenAuthentication(), TokenAuthentication()):
        try:
            found = scheme.authenticate(Request(request))
        except AuthenticationFailed:
            return None
        if found:
            return found[0]
    return None


def photo_image(request: HttpRequest, public_id: Any, photo_id: int, kind: str) -> HttpResponseBase:
    """Photos go through here, never from a public media URL (session or API token)."""
    user = _token_user(request)
    if user is None:
        return redirect_to_login(request.get_full_path())
    photo = selectors.photo_get(user=user, public_id=public_id, photo_id=photo_id)
    field = {
        "thumb": lambda: photo.thumbnail,
        "display": lambda: photo.display,
        "annotated": lambda: photo_annotated(photo=photo),
        # The model's own render, numbered as the review screen's rows: for adjusters.
        "model": lambda: photo.annotated if is_staff_role(user) else None,
    }.get(kind, lambda: None)()
    if not field:
        raise Http404("This image is not ready yet")
    response = FileResponse(field.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
def case_report(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = selectors.case_get(user=request.user, public_id=public_id)
    if not case.is_finished:
        messages.error(request, "The report is ready once every photo is processed.")
        return redirect("portal:case_detail", public_id=public_id)
    pdf = case_report_pdf(case=case, report=customer_report.case_customer_report(case=case))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="claim-{case.reference}.pdf"'
    return response


@login_required
@require_POST
def photo_retry_view(
    request: AuthenticatedHttpRequest, public_id: Any, photo_id: int
) -> HttpResponse:
    photo = selectors.photo_get(user=request.user, public_id=public_id, photo_id=photo_id)
    try:
        photo_retry(photo=photo, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("portal:case_detail", public_id=public_id)


@login_required
@require_POST
def photo_add_view(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    case = selectors.case_get(user=request.user, public_id=public_id)
    files = request.FILES.getlist("photo")
    if len(files) != 1:
        messages.error(request, "Choose one photo to add.")
        return redirect("portal:case_detail", public_id=public_id)
    try:
        sent = submit_once(
            user=request.user,
            key=submission_key_clean(request.POST.get("submission_key")),
            model=Photo,
            create=lambda: photo_add(case=case, user=request.user, upload=_uploads(files)[0]),
        )
    except ApplicationError as exc:
        messages.error(request, " ".join([exc.message, *exc.errors.get("photos", [])]))
    else:
        if sent.again:
            messages.info(
                request,
                f"You added this photo already: it is photo {sent.value.position + 1}, below.",
            )
        else:
            messages.success(request, "Photo added; it is being processed.")
    return redirect("portal:case_detail", public_id=public_id)


@login_required
@require_POST
def case_contest_view(request: AuthenticatedHttpRequest, public_id: Any) -> HttpResponse:
    """The customer contests a row of their report (`finding`), or says damage was missed
    (no `finding`), with a reason and perhaps a photo."""
    if is_staff_role(request.user):
        raise PermissionDenied("Only the customer who filed a claim can contest its report.")
    case = selectors.case_get(user=request.user, public_id=public_id)
    finding_id = request.POST.get("finding", "")
    finding = None
    if finding_id:
        finding = (
            Finding.objects.filter(case=case, pk=finding_id).first()
            if finding_id.isdigit()
            else None
        )
        if finding is None:
            raise Http404("No such finding on this claim")
    files = request.FILES.getlist("photo")
    if len(files) > 1:
        messages.error(request, "Add one photo at most to a contest.")
        return redirect("portal:case_detail", public_id=public_id)
    try:
        sent = submit_once(
            user=request.user,
            key=submission_key_clean(request.POST.get("submission_key")),
            model=Contest,
            create=lambda: contest_create(
                case=case,
                user=request.user,
                reason=request.POST.get("reason", ""),
                finding=finding,
                upload=_uploads(files)[0] if files else None,
            ),
        )
    except ApplicationError as exc:
        messages.error(request, " ".join([exc.message, *exc.errors.get("photos", [])]))
    else:
        messages.success(
            request,
            "You sent this already; an adjuster will answer you here."
            if sent.again
            else "Thank you; an adjuster will look at it again and answer you here.",
        )
    return redirect("portal:case_detail", public_id=public_id)


def _api_tokens_page(
    request: AuthenticatedHttpRequest,
    *,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    # The secret of the token just created, left by the POST for this one page (then gone
    # from the session): the page after the redirect shows it once.
    secret = request.session.pop(NEW_TOKEN_SESSION_KEY, "")
    response = render(
        request,
        "portal/api_tokens.html",
        {
            "tokens": api_tokens_active(user=request.user),
            "secret": secret,
            "errors": errors or {},
            "scopes": ApiToken.Scope.choices,
            "values": request.POST if request.method == "POST" else {},
        },
        status=status,
    )
    if secret:
        response["Cache-Control"] = "no-store"  # the page shows the secret this once
    return response


NEW_TOKEN_SESSION_KEY = "api_token_new_secret"


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's API tokens and a form for a new one. Creating one redirects back here
    (post/redirect/get: a reload does not create another), where its secret is shown once;
    the secret waits in the session for that one page only."""
    if request.method != "POST":
        return _api_tokens_page(request)
    secrets: list[str] = []

    def create() -> ApiToken:
        created = api_token_create(
            user=request.user,
            name=request.POST.get("name", ""),
            scope=request.POST.get("scope", ApiToken.Scope.WRITE),
        )
        secrets.append(created.secret)
        return created.token

    try:
        sent = submit_once(
            user=request.user,
            key=submission_key_clean(request.POST.get("submission_key")),
            model=ApiToken,
            create=create,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _api_tokens_page(request, errors=exc.errors, status=400)
    if sent.again:
        messages.info(
            request,
            f"You created this token already: {sent.value}, in the list below. Its secret "
            "was shown once; if you did not copy it, revoke the token and create another.",
        )
    else:
        request.session[NEW_TOKEN_SESSION_KEY] = secrets[0]
    return redirect("api_tokens")


@login_required
@require_POST
def api_token_revoke_view(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    try:
        token = api_token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist as exc:
        raise Http404("No such token (or already revoked)") from exc
    messages.success(request, f"Token {token.name} ({token.prefix}…) revoked.")
    return redirect("api_tokens")
