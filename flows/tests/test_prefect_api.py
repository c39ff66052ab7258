import httpx
import pytest

from zluri_flows.prefect_api import temporary_api


def test_without_an_api_a_temporary_server_serves_the_block_and_stops_after():
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    @flow(name="temporary-api-check")
    def answer() -> int:
        return 42

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert not PREFECT_API_URL.value()
        with temporary_api() as api_url:
            assert api_url is not None and api_url.startswith("http://127.0.0.1:")
            assert PREFECT_API_URL.value() == api_url
            assert httpx.get(f"{api_url}/health").status_code == 200
            state = answer(return_state=True)
            assert state.result() == 42
            run_id = state.state_details.flow_run_id
            assert run_id is not None
            with get_client(sync_client=True) as client:
                recorded = client.read_flow_run(run_id)
            assert recorded.flow_id is not None and recorded.state_name == "Completed"
        assert not PREFECT_API_URL.value()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{api_url}/health")


def test_a_configured_api_is_used_as_it_is():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = "http://127.0.0.1:9/api"
    with temporary_settings(updates={PREFECT_API_URL: configured}):
        with temporary_api() as api_url:
            assert api_url is None
            assert PREFECT_API_URL.value() == configured
