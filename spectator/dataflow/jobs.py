"""DataflowJobs: the Dataflow API calls behind `spectator dataflow`, with bounded retries and one-line errors."""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
from collections.abc import Iterator
from functools import cached_property
from http import HTTPStatus

import google.auth
import requests
from google.api_core import exceptions as api
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry, if_exception_type
from google.auth import exceptions as auth_errors
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import dataflow_v1beta3 as df

from spectator.core.errors import ServiceError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://dataflow.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# A dropped connection surfaces as requests' ConnectionError on REST, where gRPC would say UNAVAILABLE.
TRANSIENT = (api.TooManyRequests, api.ServiceUnavailable, requests.exceptions.ConnectionError)
MESSAGES_SCANNED = 2000  # bounds the paging of a long-running job's log when only the newest few are shown


class DataflowError(ServiceError):
    """A failed Dataflow call, as one line a person can act on."""


class DataflowJobs:
    """Jobs of one project and region. Real Google endpoints and Application Default Credentials by default.

    The REST transport is the default because it is the one the tests drive against a local fake API.
    """

    def __init__(
        self,
        project: str,
        region: str,
        *,
        api_endpoint: str | None = None,
        credentials: Credentials | None = None,
        transport: str = "rest",
        retry_seconds: float = 60.0,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 60.0,
    ):
        self.project, self.region = project, region
        self.endpoint = api_endpoint or DEFAULT_ENDPOINT
        self._api_endpoint = api_endpoint
        self.retry_seconds, self.timeout = retry_seconds, timeout_seconds
        self._credentials, self._transport = credentials, transport
        self._retry = Retry(
            predicate=if_exception_type(*TRANSIENT),
            initial=backoff_seconds,
            maximum=max(backoff_seconds, 30.0),
            multiplier=2.0,
            timeout=retry_seconds,
            on_error=lambda e: log.warning("Dataflow API: %s; retrying", _short(e)),
        )

    def launch(
        self,
        template: str,
        job_name: str,
        parameters: dict[str, str],
        environment: df.FlexTemplateRuntimeEnvironment | None = None,
        update: bool = False,
        validate_only: bool = False,
    ) -> df.Job:
        """Start a job. If a retried attempt's predecessor did get through, the retry fails with 409 Conflict."""
        launch = df.LaunchFlexTemplateParameter(
            job_name=job_name,
            container_spec_gcs_path=template,
            parameters=parameters,
            environment=environment,
            update=update,
        )
        request = df.LaunchFlexTemplateRequest(
            project_id=self.project, location=self.region, launch_parameter=launch, validate_only=validate_only
        )
        with self._errors(f"launch {job_name}"):
            return self._flex.launch_flex_template(request=request, retry=self._retry, timeout=self.timeout).job

    def get(self, job_id: str) -> df.Job:
        request = df.GetJobRequest(project_id=self.project, location=self.region, job_id=job_id)
        with self._errors(f"get job {job_id}", job_id):
            return self._jobs.get_job(request=request, retry=self._retry, timeout=self.timeout)

    def list(self, status: str = "all", limit: int = 20) -> list[df.Job]:
        request = df.ListJobsRequest(
            project_id=self.project,
            location=self.region,
            filter=df.ListJobsRequest.Filter[status.upper()],
            page_size=min(limit, 100),
        )
        with self._errors("list jobs"):
            pages = self._jobs.list_jobs(request=request, retry=self._retry, timeout=self.timeout)
            return list(itertools.islice(pages, limit))

    def cancel(self, job_id: str) -> df.Job:
        return self._request_state(job_id, df.JobState.JOB_STATE_CANCELLED, "cancel")

    def drain(self, job_id: str) -> df.Job:
        return self._request_state(job_id, df.JobState.JOB_STATE_DRAINED, "drain")

    def messages(self, job_id: str, limit: int = 10) -> list[df.JobMessage]:
        """The newest `limit` messages of BASIC importance or more, oldest first."""
        request = df.ListJobMessagesRequest(
            project_id=self.project,
            location=self.region,
            job_id=job_id,
            minimum_importance=df.JobMessageImportance.JOB_MESSAGE_BASIC,
            page_size=100,
        )
        with self._errors(f"read the messages of job {job_id}", job_id):
            pages = self._messages.list_job_messages(request=request, retry=self._retry, timeout=self.timeout)
            found = list(itertools.islice(pages, MESSAGES_SCANNED))
        found.sort(key=lambda m: m.time.timestamp() if m.time else 0.0)
        return found[-limit:] if limit else []

    def metrics(self, job_id: str) -> list[df.MetricUpdate]:
        request = df.GetJobMetricsRequest(project_id=self.project, location=self.region, job_id=job_id)
        with self._errors(f"read the metrics of job {job_id}", job_id):
            return list(self._metrics.get_job_metrics(request=request, retry=self._retry, timeout=self.timeout).metrics)

    def close(self) -> None:
        for name in ("_flex", "_jobs", "_messages", "_metrics"):
            if name in self.__dict__:
                self.__dict__.pop(name).transport.close()

    def __enter__(self) -> DataflowJobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request_state(self, job_id: str, state: df.JobState, verb: str) -> df.Job:
        request = df.UpdateJobRequest(
            project_id=self.project, location=self.region, job_id=job_id, job=df.Job(requested_state=state)
        )
        with self._errors(f"{verb} job {job_id}", job_id):
            return self._jobs.update_job(request=request, retry=self._retry, timeout=self.timeout)

    @cached_property
    def _client_args(self) -> dict:
        credentials = self._credentials
        if credentials is None and self.endpoint.startswith("http://"):
            # A plain-http endpoint is a local fake or emulator: never send a real token over it in clear text.
            credentials = AnonymousCredentials()
        if credentials is None:
            try:
                credentials, _ = google.auth.default(scopes=SCOPES)
            except auth_errors.DefaultCredentialsError:
                raise DataflowError(
                    "no Google credentials found: run `gcloud auth application-default login`, "
                    "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
                ) from None
        options = ClientOptions(api_endpoint=self._api_endpoint) if self._api_endpoint else None
        return dict(credentials=credentials, transport=self._transport, client_options=options)

    @cached_property
    def _flex(self) -> df.FlexTemplatesServiceClient:
        return df.FlexTemplatesServiceClient(**self._client_args)

    @cached_property
    def _jobs(self) -> df.JobsV1Beta3Client:
        return df.JobsV1Beta3Client(**self._client_args)

    @cached_property
    def _messages(self) -> df.MessagesV1Beta3Client:
        return df.MessagesV1Beta3Client(**self._client_args)

    @cached_property
    def _metrics(self) -> df.MetricsV1Beta3Client:
        return df.MetricsV1Beta3Client(**self._client_args)

    @contextlib.contextmanager
    def _errors(self, action: str, job_id: str | None = None) -> Iterator[None]:
        where = f"project {self.project} region {self.region}"
        try:
            yield
        except api.RetryError as e:
            if isinstance(e.cause, requests.exceptions.ConnectionError):
                raise DataflowError(
                    f"cannot {action}: the Dataflow API at {self.endpoint} stayed unreachable "
                    f"for {self.retry_seconds:g}s ({type(e.cause).__name__})"
                ) from None
            raise DataflowError(
                f"cannot {action}: the Dataflow API kept refusing for {self.retry_seconds:g}s "
                f"({_short(e.cause)}); try again later"
            ) from None
        except api.NotFound as e:
            if job_id:
                raise DataflowError(f"job {job_id} not found in project {self.project} region {self.region}") from None
            raise DataflowError(f"cannot {action}: not found in {where}: {_short(e)}") from None
        except api.Forbidden as e:
            raise DataflowError(
                f"cannot {action}: permission denied in project {self.project} ({_short(e)}); the account needs a "
                "Dataflow role there (e.g. roles/dataflow.developer) and the Dataflow API must be enabled"
            ) from None
        except (api.Unauthorized, auth_errors.RefreshError) as e:
            raise DataflowError(
                f"cannot {action}: Google rejected the credentials ({_short(e)}); "
                "run `gcloud auth application-default login`"
            ) from None
        except api.Conflict as e:
            raise DataflowError(f"cannot {action} in {where}: {_short(e)}") from None
        except api.GoogleAPICallError as e:
            raise DataflowError(f"cannot {action}: Dataflow refused ({_short(e)})") from None
        except (requests.exceptions.RequestException, auth_errors.TransportError) as e:
            raise DataflowError(f"cannot {action}: no answer from the Dataflow API at {self.endpoint} ({e})") from None


def _short(e: BaseException | None) -> str:
    """Status and the first line of the server's message, short enough for one line of output."""
    if isinstance(e, api.GoogleAPICallError):
        # REST errors start their message with the method and the whole URL, which says nothing new.
        message = re.sub(r"^[A-Z]+ \S+: ", "", str(e.message or ""))
        try:
            status = f"{e.code} {HTTPStatus(e.code).phrase}"
        except ValueError:
            status = str(e.code)
        text = f"{status}: {message}" if message else status
    elif isinstance(e, requests.exceptions.RequestException):
        text = type(e).__name__
    else:
        text = str(e) or type(e).__name__
    line = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return line if len(line) <= 300 else line[:297] + "..."
